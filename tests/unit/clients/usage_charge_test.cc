#include <doctest/doctest.h>

#include "clients/usage_charge.h"
#include "record/record.h"

using agd::clients::UsageCharge;
using agd::record::RequestRecord;
using agd::record::UsageState;

TEST_CASE("usage charge: reported figures, else the bytes of an answer that said nothing") {
    RequestRecord r;
    r.bytes_in = 400;
    r.bytes_out = 4000;
    r.usage.input = 120;
    r.usage.output = 30;
    r.usage_state = UsageState::Reported;
    CHECK(UsageCharge::tokens_of(r) == 150);
    // A cut stream keeps what it had sent (input only, here).
    r.usage.output = -1;
    r.usage_state = UsageState::Cut;
    CHECK(UsageCharge::tokens_of(r) == 120);
    // Cut before any figure, or complete without usage: four bytes a token.
    r.usage = {};
    CHECK(UsageCharge::tokens_of(r) == 1100);
    r.usage_state = UsageState::Missing;
    CHECK(UsageCharge::tokens_of(r) == 1100);
    // No upstream answer (a local reply, an error before it): nothing.
    r.usage_state = UsageState::None;
    CHECK(UsageCharge::tokens_of(r) == 0);
}
