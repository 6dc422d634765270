"""The course's nine labs in today's terms. Each `labN(opts)` returns (lines to print, figures
for --json).

Labs 1-3 are the graph-and-session warm-ups (constants, placeholders, variables) as eager
tensors and 8 device placement (`tensors`); 4 fits W x + b by gradient descent and 5 adds a
separate evaluation set (`regression`); 6 is softmax regression on digits and 7 the CNN
"deepnn" (`digits`); 9 save/restore and transfer (`transfer`). `course` holds what the course
did and printed, and sets our figures beside it; `estimate` times a slice of a long recipe
before it runs; `plots` draws the figures the course shows.
"""

from layerwise.lab_options import LabOptions
from layerwise.labs.course import COURSE, RECIPES, about, beside_the_course, table_lines
from layerwise.labs.digits import accuracy_over_seeds, lab6, lab7, over_seeds
from layerwise.labs.regression import lab4, lab5
from layerwise.labs.tensors import lab1, lab2, lab3, lab8
from layerwise.labs.transfer import lab9

LABS = {1: lab1, 2: lab2, 3: lab3, 4: lab4, 5: lab5, 6: lab6, 7: lab7, 8: lab8, 9: lab9}

__all__ = ["COURSE", "LABS", "RECIPES", "LabOptions", "about", "accuracy_over_seeds",
           "beside_the_course", "lab1", "lab2", "lab3", "lab4", "lab5", "lab6", "lab7", "lab8",
           "lab9", "over_seeds", "table_lines"]
