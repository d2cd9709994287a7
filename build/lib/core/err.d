build/lib/core/err.o: lib/core/err.c include/keyward/err.h
include/keyward/err.h:
