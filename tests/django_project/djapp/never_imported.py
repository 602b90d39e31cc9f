"""A module no worker may import because a job names it: importing it leaves
a mark (the file named by DJTEST_IMPORTED_MARK)."""

import os

mark = os.environ.get("DJTEST_IMPORTED_MARK")
if mark:
    with open(mark, "w") as f:
        f.write("imported")


def boom() -> str:
    return "ran"
