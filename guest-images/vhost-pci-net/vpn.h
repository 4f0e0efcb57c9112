/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vhost_pci_net: what the two modes of the driver share (docs/vhost-pci-net.md in tandem).
 *
 *   vpn_main.c    module entry, PCI driver, 2.0 asymmetric mode (capability kind 0x01, §1-§8)
 *   vpn_sym.c     2.1 symmetric mode (capability kind 0x02, §9)
 *   vpn_common.c  code both modes call: ethtool, open/stop, MSI-X, probe steps, receive skbs
 *
 * vpn_probe() reads the kind of the vendor-specific capability and hands a kind-0x02 device to
 * vpn_sym_probe(). Both modes' private structs begin with struct vpn_common, so remove and
 * shutdown can tell them apart from the PCI driver data, and the shared code finds what it needs
 * from netdev_priv().
 */
#ifndef VPN_H
#define VPN_H

#include <linux/ethtool.h>
#include <linux/interrupt.h>
#include <linux/netdevice.h>
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

/* MSI-X vectors of either mode: 0 config, 1 transmit (room for us), 2 receive (data for us). */
#define VPN_NUM_VEC		3

/* Received frames up to this go into one linear skb; larger ones get a linear head and pages. */
#define VPN_RX_COPY_LINEAR	1536
#define VPN_RX_LINEAR_HEAD	128

enum vpn_mode {
	VPN_MODE_ASYM = 1,
	VPN_MODE_SYM = 2,
};

/* What the shared ethtool code needs of a mode. */
struct vpn_mode_info {
	const char *version;				/* ethtool -i */
	const char (*stat_names)[ETH_GSTRING_LEN];	/* ethtool -S, in this order */
	unsigned int nstats;
	void (*get_stats)(struct net_device *dev, u64 *data);	/* nstats values */
};

/*
 * First member of either mode's private data (the PCI driver data and the MSI-X dev_id point at
 * it, and netdev_priv() is it).
 */
struct vpn_common {
	enum vpn_mode mode;
	const struct vpn_mode_info *info;
	struct pci_dev *pdev;
	bool removing;			/* under RTNL: the config work does nothing */
	bool irq_ok[VPN_NUM_VEC];
	struct napi_struct napi;
};

/* Per-context counters (NAPI or the tx lock), read under u64_stats. */
struct vpn_ctx_stats {
	struct u64_stats_sync syncp;
	u64_stats_t c[8];
};

/* Either mode's rx and tx counters begin with these two. */
#define VPN_STAT_PACKETS	0
#define VPN_STAT_BYTES		1

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

/* One packet of len bytes sent or received. */
static inline void vpn_stat_packet(struct vpn_ctx_stats *s, unsigned int len)
{
	u64_stats_update_begin(&s->syncp);
	u64_stats_inc(&s->c[VPN_STAT_PACKETS]);
	u64_stats_add(&s->c[VPN_STAT_BYTES], len);
	u64_stats_update_end(&s->syncp);
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

/* vpn_common.c: both modes. */
struct virtio_net_hdr;
extern const struct ethtool_ops vpn_ethtool_ops;
u64 *vpn_read_counters(u64 *data, struct vpn_ctx_stats *rx, unsigned int nrx,
		       struct vpn_ctx_stats *tx, unsigned int ntx, atomic64_t *misc,
		       unsigned int nmisc);
int vpn_common_open(struct net_device *dev, bool tx_ready);
int vpn_common_stop(struct net_device *dev);
netdev_features_t vpn_offload_features(netdev_features_t f, u64 pf, u64 csum);
bool vpn_offload_gso_ok(const struct sk_buff *skb, u64 pf, u64 csum);
int vpn_tx_offload_hdr(struct sk_buff *skb, struct virtio_net_hdr *vh, u64 pf, u64 csum,
		       bool has_data_valid);
struct sk_buff *vpn_rx_alloc_skb(struct napi_struct *napi, u32 len);
void vpn_rx_deliver(struct napi_struct *napi, struct vpn_ctx_stats *rx, unsigned int bad_hdr,
		    struct sk_buff *skb, const struct virtio_net_hdr *hdr, u32 len);
struct net_device *vpn_alloc_netdev(struct pci_dev *pdev, size_t priv_size, enum vpn_mode mode,
				    const struct vpn_mode_info *info);
void __iomem *vpn_map_regs(struct pci_dev *pdev, u32 *magic, u32 *version, u32 *maxq, u32 *nvec);
int vpn_alloc_vectors(struct pci_dev *pdev);
void vpn_setup_netdev(struct net_device *dev, const struct net_device_ops *ops,
		      netdev_features_t hw_features, unsigned int max_mtu);
int vpn_request_irqs(struct vpn_common *c, const irq_handler_t *handlers);
void vpn_free_irqs(struct vpn_common *c);
void vpn_mark_removing(struct vpn_common *c);
void vpn_shutdown_quiesce(struct vpn_common *c, struct net_device *dev);

/* vpn_sym.c: the symmetric mode. cap is the config-space offset of the kind-0x02 capability. */
int vpn_sym_probe(struct pci_dev *pdev, u8 cap);
void vpn_sym_remove(struct pci_dev *pdev);
void vpn_sym_shutdown(struct pci_dev *pdev);

#endif /* VPN_H */
