#include "int8_kernels.h"
