build/lib/crypto/hkdf.o: lib/crypto/hkdf.c include/keyward/hkdf.h \
 include/keyward/err.h
include/keyward/hkdf.h:
include/keyward/err.h:
