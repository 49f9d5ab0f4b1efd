// OpenBLAS's CBLAS interface (Debian: libopenblas-dev, found through pkg-config "openblas").
// The engine calls sgemm through one Swift function (Engine/Matmul.swift); nothing else includes this.
#include <cblas.h>
