// SPDX-License-Identifier: GPL-2.0-only
/* KUnit suite table for acrngt.ko; the cases are Rust (acrngt/tests.rs). */
#include <kunit/test.h>

void acrngt_kunit_control_protocol(struct kunit *test);

static struct kunit_case acrngt_cases[] = {
	KUNIT_CASE(acrngt_kunit_control_protocol),
	{}
};

static struct kunit_suite acrngt_suite = {
	.name = "acrngt",
	.test_cases = acrngt_cases,
};
kunit_test_suite(acrngt_suite);
