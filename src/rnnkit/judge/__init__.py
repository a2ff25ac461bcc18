"""The judge: test cells run in a process of their own, apart from the student's code.

While ``rnnkit grade`` grades a notebook, the student's cells run in the sandboxed kernel
and each test cell runs in a judge process (``process``), forked by the grader, that
holds only the course's code. Exercise names there are proxies (``proxy``); a call
reaches the student kernel (``serve``) and only data comes back (``wire``). The set-up and
the names come from the instructor's notebook (``plan``). ``autograder/README.md`` has
the design and its threat model.
"""
