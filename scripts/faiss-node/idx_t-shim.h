// faiss 1.7.3 (Debian) has idx_t only as Index::idx_t; faiss-node's source expects faiss::idx_t (1.7.4).
#include <faiss/Index.h>
namespace faiss { using idx_t = Index::idx_t; }
