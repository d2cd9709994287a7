build/lib/core/codec.o: lib/core/codec.c include/keyward/codec.h \
 include/keyward/err.h
include/keyward/codec.h:
include/keyward/err.h:
