"""The grading service (`autograder serve`): students upload CNN.ipynb and read their report seconds later.

    store      the database: people, submissions, attempts; the engine and its migrations (Alembic)
    tokens     the links' secrets: issued once, kept only as a hash, renewable
    queue      the queue IS the database: enqueue, claim, complete, put back what a crash left running
    files      the submitted bytes, stored durably before a submission is accepted
    grader     a thread that claims submissions and grades them on the batch's engine (engines.py: pool or Dask)
    classbook  the class table, gradebook columns and LMS files from the database
    app        the Flask app: JSON API, the student's and the instructor's pages, the reports
"""
