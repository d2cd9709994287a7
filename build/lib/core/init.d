build/lib/core/init.o: lib/core/init.c include/keyward/keyward.h \
 include/keyward/err.h include/keyward/buf.h include/keyward/codec.h
include/keyward/keyward.h:
include/keyward/err.h:
include/keyward/buf.h:
include/keyward/codec.h:
