// SPDX-License-Identifier: GPL-2.0-only
/*
 * The sim GPU's struct device. The GPU itself is modelled in Rust (gvt/hosts/sim/mod.rs); this
 * only gives it a place in the driver model: a platform device, gvt_sim.0, bound to a platform
 * driver named "i915". mdev names a parent's type directories "<driver>-<type>", so KVM users
 * see upstream's i915-GVTg_V5_4 on the sim GPU as on real hardware.
 */
#include <linux/dma-mapping.h>
#include <linux/err.h>
#include <linux/mod_devicetable.h>
#include <linux/platform_device.h>
#include "../../glue/shim.h"

static const struct platform_device_id gvt_sim_ids[] = {
	{ .name = "gvt_sim" },
	{ }
};

static struct platform_driver gvt_sim_driver = {
	.driver = { .name = "i915" },
	.id_table = gvt_sim_ids,
};

int gvt_sim_register(struct device **dev)
{
	struct platform_device *pdev;
	int ret;

	ret = platform_driver_register(&gvt_sim_driver);
	if (ret)
		return ret;
	pdev = platform_device_register_simple("gvt_sim", 0, NULL, 0);
	if (IS_ERR(pdev)) {
		platform_driver_unregister(&gvt_sim_driver);
		return PTR_ERR(pdev);
	}
	/* Guest pages are DMA-mapped for the sim GPU as for a real one (39-bit, like Gen9). */
	ret = dma_coerce_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(39));
	if (ret) {
		platform_device_unregister(pdev);
		platform_driver_unregister(&gvt_sim_driver);
		return ret;
	}
	*dev = &pdev->dev;
	return 0;
}

void gvt_sim_unregister(struct device *dev)
{
	platform_device_unregister(to_platform_device(dev));
	platform_driver_unregister(&gvt_sim_driver);
}
