#include <doctest/doctest.h>

#include "translate/codecs.h"
