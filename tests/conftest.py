import os

# Keras runs on the torch CPU build; one intra-op thread per trial worker (two threads on a
# busy 2-core machine were measured ten times slower).
os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("OMP_NUM_THREADS", "1")
