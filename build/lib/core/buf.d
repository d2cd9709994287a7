build/lib/core/buf.o: lib/core/buf.c include/keyward/buf.h \
 include/keyward/err.h
include/keyward/buf.h:
include/keyward/err.h:
