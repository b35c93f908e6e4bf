// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit suite table for gvt.ko. 6.12 has no Rust test-suite macros, so the cases are Rust
 * functions (gvt/glue/tests.rs) listed in a C table; the suite runs when the module loads.
 */
#include <kunit/test.h>

void gvt_kunit_sim_device(struct kunit *test);
void gvt_kunit_types_match_core(struct kunit *test);
void gvt_kunit_backend_registration(struct kunit *test);
void gvt_kunit_bad_backends(struct kunit *test);
void gvt_kunit_probe(struct kunit *test);
void gvt_kunit_workload(struct kunit *test);
void gvt_kunit_display(struct kunit *test);
void gvt_kunit_lifecycle(struct kunit *test);
void gvt_kunit_aperture(struct kunit *test);
void gvt_kunit_edid(struct kunit *test);
void gvt_kunit_trace_bench(struct kunit *test);

static struct kunit_case gvt_cases[] = {
	KUNIT_CASE(gvt_kunit_sim_device),
	KUNIT_CASE(gvt_kunit_types_match_core),
	KUNIT_CASE(gvt_kunit_backend_registration),
	KUNIT_CASE(gvt_kunit_bad_backends),
	KUNIT_CASE(gvt_kunit_probe),
	KUNIT_CASE_SLOW(gvt_kunit_workload),
	KUNIT_CASE_SLOW(gvt_kunit_display),
	KUNIT_CASE(gvt_kunit_lifecycle),
	KUNIT_CASE(gvt_kunit_aperture),
	KUNIT_CASE(gvt_kunit_edid),
	KUNIT_CASE(gvt_kunit_trace_bench),
	{}
};

static struct kunit_suite gvt_suite = {
	.name = "gvt",
	.test_cases = gvt_cases,
};
kunit_test_suite(gvt_suite);
