/* SPDX-License-Identifier: GPL-2.0 */
/*
 * section_find.h: shared by the section-prober test modules: finds the symmetric vhost-pci-net
 * function (1af4:10fa, revision 0x21, vendor capability of kind 0x02) and reads where its sections
 * are (docs/vhost-pci-net.md §9.2).
 */
#ifndef SECTION_FIND_H
#define SECTION_FIND_H

#include <linux/pci.h>

/* The function with a reference held (pci_dev_put it), its shm_base and section size; NULL when
 * there is none. */
static inline struct pci_dev *section_find(u64 *shm, u32 *section)
{
	struct pci_dev *pdev = NULL;
	u32 lo, hi;
	int cap;
	u8 kind;

	while ((pdev = pci_get_device(0x1af4, 0x10fa, pdev))) {
		if (pdev->revision != 0x21)
			continue;
		for (cap = pci_find_capability(pdev, PCI_CAP_ID_VNDR); cap;
		     cap = pci_find_next_capability(pdev, cap, PCI_CAP_ID_VNDR)) {
			pci_read_config_byte(pdev, cap + 3, &kind);
			if (kind != 0x02)
				continue;
			pci_read_config_dword(pdev, cap + 8, &lo);
			pci_read_config_dword(pdev, cap + 12, &hi);
			pci_read_config_dword(pdev, cap + 16, section);
			*shm = (u64)hi << 32 | lo;
			return pdev;
		}
	}
	return NULL;
}

#endif
