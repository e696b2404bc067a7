build-asan/examples/tutorial/05_cancel_polling: \
 examples/tutorial/05_cancel_polling.c examples/tutorial/tutorial.h \
 include/cio.h
examples/tutorial/tutorial.h:
include/cio.h:
