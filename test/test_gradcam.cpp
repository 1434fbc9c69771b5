#include "test_common.hpp"
