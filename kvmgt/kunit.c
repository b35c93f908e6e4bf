// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit suite table for kvmgt.ko (cases in kvmgt/tests.rs), and accessors that let the Rust
 * cases look at the mdev structures, which Rust has no bindings for.
 */
#include <kunit/test.h>
#include "kvmgt.h"

struct gvt_device *kvmgt_test_gd(void)
{
	struct kvmgt_parent *p = kvmgt_first_parent();

	return p ? p->gd : NULL;
}

u32 kvmgt_test_nr_types(void)
{
	struct kvmgt_parent *p = kvmgt_first_parent();

	return p ? p->parent.nr_types : 0;
}

const char *kvmgt_test_type_dir(u32 i)
{
	struct kvmgt_parent *p = kvmgt_first_parent();

	if (!p || i >= p->parent.nr_types)
		return NULL;
	return kobject_name(&p->parent.types[i]->kobj);
}

u32 kvmgt_test_type_available(u32 i)
{
	struct kvmgt_parent *p = kvmgt_first_parent();

	if (!p || i >= p->parent.nr_types)
		return 0;
	return p->parent.mdev_driver->get_available(p->parent.types[i]);
}

void kvmgt_kunit_parent_types(struct kunit *test);

static struct kunit_case kvmgt_cases[] = {
	KUNIT_CASE(kvmgt_kunit_parent_types),
	{}
};

static struct kunit_suite kvmgt_suite = {
	.name = "kvmgt",
	.test_cases = kvmgt_cases,
};
kunit_test_suite(kvmgt_suite);
