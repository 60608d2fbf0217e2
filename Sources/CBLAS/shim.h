#include <cblas.h>
/* openblas_set_num_threads / openblas_get_config are OpenBLAS extensions declared in cblas.h */
