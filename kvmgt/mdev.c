// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmgt's mdev side: an mdev parent on every GPU gvt.ko offers, with upstream's vGPU types,
 * and an mdev driver whose probe creates the vGPU's VFIO device (vfio.c). mdev's registration
 * API is macro- and struct-embedding-shaped, so it is C; sizes and accounting come from gvt.ko.
 */
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/sysfs.h>
#include <linux/vfio.h>
#include "kvmgt.h"

static LIST_HEAD(kvmgt_parents);
static DEFINE_MUTEX(kvmgt_lock);

static unsigned int kvmgt_get_available(struct mdev_type *mtype)
{
	struct kvmgt_parent *p = to_kvmgt_parent(mtype->parent);

	return gvt_device_type_available(p->gd, to_kvmgt_type(mtype)->idx);
}

static ssize_t kvmgt_show_description(struct mdev_type *mtype, char *buf)
{
	struct kvmgt_parent *p = to_kvmgt_parent(mtype->parent);
	struct gvt_type_info info;
	int ret;

	ret = gvt_device_type_info(p->gd, to_kvmgt_type(mtype)->idx, &info);
	if (ret)
		return ret;
	/* The format of upstream kvmgt, which management tools parse. */
	return sysfs_emit(buf, "low_gm_size: %lluMB\nhigh_gm_size: %lluMB\nfence: %u\nresolution: %s\nweight: %u\n",
			  info.low_gm_size >> 20, info.high_gm_size >> 20, info.fences,
			  info.resolution, info.weight);
}

static struct mdev_driver kvmgt_mdev_driver = {
	.device_api = VFIO_DEVICE_API_PCI_STRING,
	.driver = {
		.name = "gvt_vgpu_mdev",
		.owner = THIS_MODULE,
		.mod_name = KBUILD_MODNAME,
		.dev_groups = kvmgt_vgpu_groups,
	},
	.probe = kvmgt_vfio_probe,
	.remove = kvmgt_vfio_remove,
	.get_available = kvmgt_get_available,
	.show_description = kvmgt_show_description,
};

static void kvmgt_parent_free(struct kvmgt_parent *p)
{
	kfree(p->type_ptrs);
	kfree(p->types);
	kfree(p);
}

int kvmgt_device_added(struct gvt_device *gd)
{
	u32 i, n = gvt_device_type_count(gd);
	struct kvmgt_parent *p;
	int ret = -ENOMEM;

	p = kzalloc(sizeof(*p), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	p->gd = gd;
	p->nr_types = n;
	p->types = kcalloc(n, sizeof(*p->types), GFP_KERNEL);
	p->type_ptrs = kcalloc(n, sizeof(*p->type_ptrs), GFP_KERNEL);
	if (!p->types || !p->type_ptrs)
		goto err;
	for (i = 0; i < n; i++) {
		struct gvt_type_info info;

		ret = gvt_device_type_info(gd, i, &info);
		if (ret)
			goto err;
		strscpy(p->types[i].name, info.name, sizeof(p->types[i].name));
		p->types[i].idx = i;
		p->types[i].type.sysfs_name = p->types[i].name;
		p->types[i].type.pretty_name = p->types[i].name;
		p->type_ptrs[i] = &p->types[i].type;
	}
	ret = mdev_register_parent(&p->parent, gvt_device_dev(gd), &kvmgt_mdev_driver,
				   p->type_ptrs, n);
	if (ret)
		goto err;
	mutex_lock(&kvmgt_lock);
	list_add_tail(&p->link, &kvmgt_parents);
	mutex_unlock(&kvmgt_lock);
	return 0;
err:
	kvmgt_parent_free(p);
	return ret;
}

void kvmgt_device_removed(struct gvt_device *gd)
{
	struct kvmgt_parent *p, *found = NULL;

	mutex_lock(&kvmgt_lock);
	list_for_each_entry(p, &kvmgt_parents, link) {
		if (p->gd == gd) {
			list_del(&p->link);
			found = p;
			break;
		}
	}
	mutex_unlock(&kvmgt_lock);
	if (!found)
		return;
	/* Removes every mdev on the parent first, destroying their vGPUs. */
	mdev_unregister_parent(&found->parent);
	kvmgt_parent_free(found);
}

struct kvmgt_parent *kvmgt_first_parent(void)
{
	struct kvmgt_parent *p;

	mutex_lock(&kvmgt_lock);
	p = list_first_entry_or_null(&kvmgt_parents, struct kvmgt_parent, link);
	mutex_unlock(&kvmgt_lock);
	return p;
}

const struct gvt_backend kvmgt_backend = {
	.abi_version = GVT_MPT_ABI_VERSION,
	.name = "kvmgt",
	.owner = THIS_MODULE,
	.ops = &kvmgt_mpt_ops,
};

int kvmgt_register(void)
{
	int ret;

	ret = mdev_register_driver(&kvmgt_mdev_driver);
	if (ret)
		return ret;
	ret = gvt_register_backend(&kvmgt_backend);
	if (ret)
		mdev_unregister_driver(&kvmgt_mdev_driver);
	return ret;
}

void kvmgt_unregister(void)
{
	gvt_unregister_backend(&kvmgt_backend);
	mdev_unregister_driver(&kvmgt_mdev_driver);
}
