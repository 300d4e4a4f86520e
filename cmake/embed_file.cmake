# cmake -DIN=<file> -DOUT=<file.c> -DNAME=<symbol> -P embed_file.cmake
# Writes OUT defining `const unsigned char NAME[]` (the bytes of IN, then a
# NUL) and `const unsigned long NAME_len` (without the NUL): a file shipped
# inside a binary, rebuilt whenever IN changes.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR n "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE "${OUT}" "/* Generated from ${IN} by cmake/embed_file.cmake: do not edit. */\n"
  "const unsigned char ${NAME}[] = {\n${bytes}0x00};\n"
  "const unsigned long ${NAME}_len = ${n};\n")
