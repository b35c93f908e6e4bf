// SPDX-License-Identifier: GPL-2.0-only
/*
 * acrngt's sysfs interface, which ACRN-DM uses (Documentation/ABI/testing/sysfs-kernel-gvt):
 *   /sys/kernel/gvt/control/create_gvt_instance   (write "vmid,low,high,fences" / "-vmid")
 *   /sys/kernel/gvt/control/plane_owner_show      (read the plane ownership policy)
 *   /sys/kernel/gvt/vmN/vgpu_id                   (read the vGPU id)
 *   /sys/kernel/gvt/vmN/vgpu_bar_info             (read BAR0 and BAR2 placement and sizes)
 * The attribute tables are macro-shaped, so they are C; parsing and the instance table are
 * Rust (acrngt/control.rs, acrngt/instances.rs).
 */
#include <linux/kobject.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/sysfs.h>
#include "acrngt.h"

static struct kset *gvt_kset;
static struct kobject *control_kobj;

static ssize_t create_gvt_instance_store(struct kobject *kobj, struct kobj_attribute *attr,
					 const char *buf, size_t count)
{
	return acrngt_control_store(buf, count);
}
static struct kobj_attribute create_gvt_instance_attr = __ATTR_WO(create_gvt_instance);

static ssize_t plane_owner_show_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return acrngt_plane_owner_show(buf, PAGE_SIZE);
}
static struct kobj_attribute plane_owner_show_attr = __ATTR(plane_owner_show, 0444, plane_owner_show_show, NULL);

static struct attribute *control_attrs[] = {
	&create_gvt_instance_attr.attr,
	&plane_owner_show_attr.attr,
	NULL,
};
static const struct attribute_group control_group = { .attrs = control_attrs };

/* /sys/kernel/gvt/vmN */
struct acrngt_vm {
	struct kobject kobj;
	u32 vgpu_id;
	void *inst;
};

static ssize_t vgpu_id_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", container_of(kobj, struct acrngt_vm, kobj)->vgpu_id);
}
static struct kobj_attribute vgpu_id_attr = __ATTR(vgpu_id, 0440, vgpu_id_show, NULL);

/*
 * ACRN-DM's update_gvt_bar() reads 76 bytes: four hex numbers, BAR0 base and size, BAR2 base
 * and size, which it reserves in the User VM's PCI hole. The instance outlives this file: it
 * is removed (and its readers drained) before the instance is destroyed.
 */
static ssize_t vgpu_bar_info_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	u64 bar[4];
	int ret = acrngt_instance_bar_info(container_of(kobj, struct acrngt_vm, kobj)->inst, bar);

	if (ret)
		return ret;
	return sysfs_emit(buf, "%#018llx %#018llx %#018llx %#018llx\n", bar[0], bar[1], bar[2], bar[3]);
}
static struct kobj_attribute vgpu_bar_info_attr = __ATTR(vgpu_bar_info, 0440, vgpu_bar_info_show, NULL);

static struct attribute *vm_attrs[] = {
	&vgpu_id_attr.attr,
	&vgpu_bar_info_attr.attr,
	NULL,
};
ATTRIBUTE_GROUPS(vm);

static void acrngt_vm_release(struct kobject *kobj)
{
	kfree(container_of(kobj, struct acrngt_vm, kobj));
}

static const struct kobj_type acrngt_vm_ktype = {
	.release = acrngt_vm_release,
	.sysfs_ops = &kobj_sysfs_ops,
	.default_groups = vm_groups,
};

void *acrngt_vm_create(u32 vmid, void *inst)
{
	struct acrngt_vm *vm = kzalloc(sizeof(*vm), GFP_KERNEL);

	if (!vm)
		return NULL;
	vm->vgpu_id = acrngt_instance_vgpu_id(inst);
	vm->inst = inst;
	vm->kobj.kset = gvt_kset;
	if (kobject_init_and_add(&vm->kobj, &acrngt_vm_ktype, NULL, "vm%u", vmid)) {
		kobject_put(&vm->kobj);
		return NULL;
	}
	return vm;
}

void acrngt_vm_destroy(void *vm)
{
	struct acrngt_vm *v = vm;

	kobject_del(&v->kobj);
	kobject_put(&v->kobj);
}

/* Tells ACRN-DM, through a uevent on the control node, that User VMs can get vGPUs now. */
void acrngt_dom0_ready(void)
{
	char *env[] = { "GVT_DOM0_READY=1", NULL };

	kobject_uevent_env(control_kobj, KOBJ_ADD, env);
}

const struct gvt_backend acrngt_backend = {
	.abi_version = GVT_MPT_ABI_VERSION,
	.name = "acrngt",
	.owner = THIS_MODULE,
	.ops = &acrngt_ops,
};

static void acrngt_control_release(struct kobject *kobj)
{
	kfree(kobj);
}

/* A member of the gvt kset, so that its uevents (dom0_ready) are sent. */
static const struct kobj_type acrngt_control_ktype = {
	.release = acrngt_control_release,
	.sysfs_ops = &kobj_sysfs_ops,
};

int acrngt_register(void)
{
	int ret = -ENOMEM;

	gvt_kset = kset_create_and_add("gvt", NULL, kernel_kobj);
	if (!gvt_kset)
		return -ENOMEM;
	control_kobj = kzalloc(sizeof(*control_kobj), GFP_KERNEL);
	if (!control_kobj)
		goto err_kset;
	control_kobj->kset = gvt_kset;
	ret = kobject_init_and_add(control_kobj, &acrngt_control_ktype, NULL, "control");
	if (ret)
		goto err_control;
	ret = sysfs_create_group(control_kobj, &control_group);
	if (ret)
		goto err_control;
	ret = gvt_register_backend(&acrngt_backend);
	if (ret)
		goto err_group;
	return 0;
err_group:
	sysfs_remove_group(control_kobj, &control_group);
err_control:
	kobject_put(control_kobj);
err_kset:
	kset_unregister(gvt_kset);
	return ret;
}

void acrngt_unregister(void)
{
	/* No new requests, then every instance goes with the device. */
	sysfs_remove_group(control_kobj, &control_group);
	gvt_unregister_backend(&acrngt_backend);
	kobject_put(control_kobj);
	kset_unregister(gvt_kset);
}
