/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vhost_pci_net: what the two modes of the driver share (docs/vhost-pci-net.md in tandem).
 *
 *   vpn_main.c  module entry, PCI driver, 2.0 asymmetric mode (capability kind 0x01, §1-§8)
 *   vpn_sym.c   2.1 symmetric mode (capability kind 0x02, §9)
 *
 * vpn_probe() reads the kind of the vendor-specific capability and hands a kind-0x02 device to
 * vpn_sym_probe(). Both modes' private structs begin with struct vpn_common, so remove and
 * shutdown can tell them apart from the PCI driver data.
 */
#ifndef VPN_H
#define VPN_H

#include <linux/pci.h>
#include <linux/u64_stats_sync.h>

#define DRV_NAME	"vhost_pci_net"

#define VPN_VENDOR	0x1af4
#define VPN_DEVICE	0x10fa

/* BAR0 registers (spec §3, §9.2). */
#define VPN_REG_MAGIC		0x00
#define VPN_REG_VERSION		0x04
#define VPN_REG_MAX_QUEUES	0x08
#define VPN_REG_NUM_VECTORS	0x0c
#define VPN_REG_DRIVER_STATUS	0x10
#define VPN_REG_LINK_STATE	0x14
#define VPN_DOORBELL_BASE	0x1000
#define VPN_DOORBELL_STRIDE	4

#define VPN_MAGIC		0x4e505654u	/* "TVPN" */
#define VPN_VERSION_MAJOR	2
#define VPN_DRIVER_OK		1u

/* Link states (§5, §9.6). */
#define VPN_LINK_DOWN		0
#define VPN_LINK_UP		2

/* The vendor-specific capability (§2, §9.2): which layout the device has. */
#define VPN_CAP_KIND		3	/* offset of `kind` in the capability */
#define VPN_CAP_KIND_ASYM	0x01	/* 2.0: peer memory in BAR2 */
#define VPN_CAP_KIND_SYM	0x02	/* 2.1: two output sections at a fixed address */

enum vpn_mode {
	VPN_MODE_ASYM = 1,
	VPN_MODE_SYM = 2,
};

/* First member of either mode's private data (the PCI driver data points at it). */
struct vpn_common {
	enum vpn_mode mode;
};

/* Per-context counters (NAPI or the tx lock), read under u64_stats. */
struct vpn_ctx_stats {
	struct u64_stats_sync syncp;
	u64_stats_t c[8];
};

static inline void vpn_stat_add(struct vpn_ctx_stats *s, unsigned int i, u64 v)
{
	u64_stats_update_begin(&s->syncp);
	u64_stats_add(&s->c[i], v);
	u64_stats_update_end(&s->syncp);
}

static inline void vpn_stat_inc(struct vpn_ctx_stats *s, unsigned int i)
{
	vpn_stat_add(s, i, 1);
}

static inline void vpn_stats_read(struct vpn_ctx_stats *s, u64 *out, unsigned int n)
{
	unsigned int start, i;

	do {
		start = u64_stats_fetch_begin(&s->syncp);
		for (i = 0; i < n; i++)
			out[i] = u64_stats_read(&s->c[i]);
	} while (u64_stats_fetch_retry(&s->syncp, start));
}

/* vpn_sym.c: the symmetric mode. cap is the config-space offset of the kind-0x02 capability. */
int vpn_sym_probe(struct pci_dev *pdev, u8 cap);
void vpn_sym_remove(struct pci_dev *pdev);
void vpn_sym_shutdown(struct pci_dev *pdev);

#endif /* VPN_H */
