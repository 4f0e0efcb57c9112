// SPDX-License-Identifier: GPL-2.0
/*
 * vhost_pci_net: code both modes call (vpn_main.c for 2.0, vpn_sym.c for 2.1). The ethtool ops,
 * ndo_open/ndo_stop, the offload trimming, receive skbs, and the probe and teardown steps that do
 * not depend on the layout. What differs between the modes comes in as arguments or through
 * struct vpn_common (vpn.h), the first member of either mode's private data.
 */

#include <linux/etherdevice.h>
#include <linux/ethtool.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/netdevice.h>
#include <linux/pci.h>
#include <linux/rtnetlink.h>
#include <linux/skbuff.h>
#include <linux/virtio_net.h>

#include "vpn.h"

/* ---- ethtool ---- */

static void vpn_get_drvinfo(struct net_device *dev, struct ethtool_drvinfo *info)
{
	struct vpn_common *c = netdev_priv(dev);

	strscpy(info->driver, DRV_NAME, sizeof(info->driver));
	strscpy(info->version, c->info->version, sizeof(info->version));
	strscpy(info->bus_info, pci_name(c->pdev), sizeof(info->bus_info));
}

static int vpn_get_sset_count(struct net_device *dev, int sset)
{
	struct vpn_common *c = netdev_priv(dev);

	return sset == ETH_SS_STATS ? c->info->nstats : -EOPNOTSUPP;
}

static void vpn_get_strings(struct net_device *dev, u32 sset, u8 *data)
{
	struct vpn_common *c = netdev_priv(dev);

	if (sset == ETH_SS_STATS)
		memcpy(data, c->info->stat_names, c->info->nstats * ETH_GSTRING_LEN);
}

static void vpn_get_ethtool_stats(struct net_device *dev, struct ethtool_stats *stats, u64 *data)
{
	struct vpn_common *c = netdev_priv(dev);

	c->info->get_stats(dev, data);
}

const struct ethtool_ops vpn_ethtool_ops = {
	.get_drvinfo		= vpn_get_drvinfo,
	.get_link		= ethtool_op_get_link,
	.get_sset_count		= vpn_get_sset_count,
	.get_strings		= vpn_get_strings,
	.get_ethtool_stats	= vpn_get_ethtool_stats,
};

/* The rx, tx and misc counters in a row into data; returns where the next value goes. */
u64 *vpn_read_counters(u64 *data, struct vpn_ctx_stats *rx, unsigned int nrx,
		       struct vpn_ctx_stats *tx, unsigned int ntx, atomic64_t *misc,
		       unsigned int nmisc)
{
	unsigned int i;

	vpn_stats_read(rx, data, nrx);
	data += nrx;
	vpn_stats_read(tx, data, ntx);
	data += ntx;
	for (i = 0; i < nmisc; i++)
		data[i] = atomic64_read(&misc[i]);
	return data + nmisc;
}

/* ---- net_device ---- */

/* ndo_open: tx_ready says whether the transmit side can take packets now. */
int vpn_common_open(struct net_device *dev, bool tx_ready)
{
	struct vpn_common *c = netdev_priv(dev);

	napi_enable(&c->napi);
	if (tx_ready)
		netif_start_queue(dev);
	else
		netif_stop_queue(dev);
	napi_schedule(&c->napi);
	return 0;
}

int vpn_common_stop(struct net_device *dev)
{
	struct vpn_common *c = netdev_priv(dev);

	napi_disable(&c->napi);
	netif_tx_disable(dev);
	return 0;
}

/*
 * The offloads the peer accepts on its receive side: pf holds its virtio-net feature bits, csum
 * those of them that each allow a checksum offload.
 */
netdev_features_t vpn_offload_features(netdev_features_t f, u64 pf, u64 csum)
{
	if (!(pf & csum))
		f &= ~(NETIF_F_HW_CSUM | NETIF_F_TSO | NETIF_F_TSO6 | NETIF_F_TSO_ECN);
	if (!(pf & BIT_ULL(VIRTIO_NET_F_GUEST_TSO4)))
		f &= ~NETIF_F_TSO;
	if (!(pf & BIT_ULL(VIRTIO_NET_F_GUEST_TSO6)))
		f &= ~NETIF_F_TSO6;
	if (!(pf & BIT_ULL(VIRTIO_NET_F_GUEST_ECN)))
		f &= ~NETIF_F_TSO_ECN;
	return f;
}

/* Can the peer take this GSO skb as it is (GUEST_TSO4/6, GUEST_ECN)? pf, csum as above. */
bool vpn_offload_gso_ok(const struct sk_buff *skb, u64 pf, u64 csum)
{
	unsigned int t = skb_shinfo(skb)->gso_type;

	if (!(pf & csum))
		return false;
	if (t & ~(SKB_GSO_TCPV4 | SKB_GSO_TCPV6 | SKB_GSO_TCP_ECN | SKB_GSO_DODGY))
		return false;
	if ((t & SKB_GSO_TCPV4) && !(pf & BIT_ULL(VIRTIO_NET_F_GUEST_TSO4)))
		return false;
	if ((t & SKB_GSO_TCPV6) && !(pf & BIT_ULL(VIRTIO_NET_F_GUEST_TSO6)))
		return false;
	if ((t & SKB_GSO_TCP_ECN) && !(pf & BIT_ULL(VIRTIO_NET_F_GUEST_ECN)))
		return false;
	return true;
}

/*
 * The virtio_net_hdr for transmitting skb, offloads as the peer takes them (pf, csum as above):
 * 0, or an error when the packet cannot go as it is (drop it). has_data_valid: the peer reads
 * VIRTIO_NET_HDR_F_DATA_VALID.
 */
int vpn_tx_offload_hdr(struct sk_buff *skb, struct virtio_net_hdr *vh, u64 pf, u64 csum,
		       bool has_data_valid)
{
	bool peer_csum = pf & csum;

	if (skb->ip_summed == CHECKSUM_PARTIAL || skb_is_gso(skb)) {
		if (skb_is_gso(skb) && !vpn_offload_gso_ok(skb, pf, csum))
			return -EINVAL;
		if (!peer_csum)
			return skb_checksum_help(skb);
		return virtio_net_hdr_from_skb(skb, vh, true, has_data_valid, 0) ? -EINVAL : 0;
	}
	if (peer_csum && skb->ip_summed == CHECKSUM_UNNECESSARY)
		vh->flags = VIRTIO_NET_HDR_F_DATA_VALID;
	return 0;
}

/* ---- receive ---- */

/* An skb of exactly len bytes for a received frame (NAPI context), contents not yet written. */
struct sk_buff *vpn_rx_alloc_skb(struct napi_struct *napi, u32 len)
{
	struct sk_buff *skb;
	u32 head = VPN_RX_LINEAR_HEAD;
	int err;

	if (len <= VPN_RX_COPY_LINEAR) {
		skb = napi_alloc_skb(napi, len);
		if (skb)
			skb_put(skb, len);
		return skb;
	}
	skb = alloc_skb_with_frags(NET_SKB_PAD + NET_IP_ALIGN + head, len - head,
				   PAGE_ALLOC_COSTLY_ORDER, &err, GFP_ATOMIC);
	if (skb) {
		skb_reserve(skb, NET_SKB_PAD + NET_IP_ALIGN);
		skb_put(skb, head);
		skb->data_len = len - head;
		skb->len += len - head;
	}
	return skb;
}

/*
 * Hand a received frame of len bytes to GRO, with the offloads of hdr (NULL: none). A bad header
 * drops it and counts rx counter bad_hdr.
 */
void vpn_rx_deliver(struct napi_struct *napi, struct vpn_ctx_stats *rx, unsigned int bad_hdr,
		    struct sk_buff *skb, const struct virtio_net_hdr *hdr, u32 len)
{
	struct net_device *dev = napi->dev;

	if (hdr && virtio_net_hdr_to_skb(skb, hdr, true)) {
		net_warn_ratelimited("%s: bad virtio_net_hdr from peer; packet dropped\n",
				     dev->name);
		dev_kfree_skb_any(skb);
		vpn_stat_inc(rx, bad_hdr);
		return;
	}
	skb_record_rx_queue(skb, 0);
	skb->protocol = eth_type_trans(skb, dev);

	vpn_stat_packet(rx, len);
	napi_gro_receive(napi, skb);
}

/* ---- PCI ---- */

static const char * const vpn_irq_names[VPN_NUM_VEC] = {
	DRV_NAME "-config", DRV_NAME "-tx", DRV_NAME "-rx"
};

/*
 * The net_device of a new device, its private data (priv_size bytes, beginning with struct
 * vpn_common) set up for mode and the PCI driver data pointing at it. NULL: out of memory.
 */
struct net_device *vpn_alloc_netdev(struct pci_dev *pdev, size_t priv_size, enum vpn_mode mode,
				    const struct vpn_mode_info *info)
{
	struct net_device *dev;
	struct vpn_common *c;

	dev = alloc_netdev(priv_size, "vpn%d", NET_NAME_ENUM, ether_setup);
	if (!dev)
		return NULL;
	SET_NETDEV_DEV(dev, &pdev->dev);
	c = netdev_priv(dev);
	c->mode = mode;
	c->info = info;
	c->pdev = pdev;
	pci_set_drvdata(pdev, c);
	return dev;
}

/* Map BAR0 (already requested) and read the identification registers. NULL: cannot map it. */
void __iomem *vpn_map_regs(struct pci_dev *pdev, u32 *magic, u32 *version, u32 *maxq, u32 *nvec)
{
	void __iomem *regs = pci_iomap(pdev, 0, 0);

	if (!regs)
		return NULL;
	*magic = ioread32(regs + VPN_REG_MAGIC);
	*version = ioread32(regs + VPN_REG_VERSION);
	*maxq = ioread32(regs + VPN_REG_MAX_QUEUES);
	*nvec = ioread32(regs + VPN_REG_NUM_VECTORS);
	return regs;
}

/* Bus mastering and the VPN_NUM_VEC MSI-X vectors; < 0 on failure (logged). */
int vpn_alloc_vectors(struct pci_dev *pdev)
{
	int err;

	pci_set_master(pdev);	/* MSI-X messages are bus-master writes */
	err = pci_alloc_irq_vectors(pdev, VPN_NUM_VEC, VPN_NUM_VEC, PCI_IRQ_MSIX);
	if (err < 0)
		dev_err(&pdev->dev, "cannot allocate %d MSI-X vectors: %d\n", VPN_NUM_VEC, err);
	return err;
}

/* The net_device before register_netdev: ops, offloads (hw_features, all on), MTU, address. */
void vpn_setup_netdev(struct net_device *dev, const struct net_device_ops *ops,
		      netdev_features_t hw_features, unsigned int max_mtu)
{
	dev->netdev_ops = ops;
	dev->ethtool_ops = &vpn_ethtool_ops;
	dev->hw_features = hw_features;
	dev->features = dev->hw_features | NETIF_F_HIGHDMA;
	dev->priv_flags |= IFF_LIVE_ADDR_CHANGE;
	dev->min_mtu = ETH_MIN_MTU;
	dev->max_mtu = max_mtu;
	eth_hw_addr_random(dev);
	netif_carrier_off(dev);
}

/* The VPN_NUM_VEC interrupts, with c as dev_id; on failure the caller frees those it got. */
int vpn_request_irqs(struct vpn_common *c, const irq_handler_t *handlers)
{
	int err, i;

	for (i = 0; i < VPN_NUM_VEC; i++) {
		err = request_irq(pci_irq_vector(c->pdev, i), handlers[i], 0, vpn_irq_names[i], c);
		if (err) {
			dev_err(&c->pdev->dev, "cannot request vector %d: %d\n", i, err);
			return err;
		}
		c->irq_ok[i] = true;
	}
	return 0;
}

void vpn_free_irqs(struct vpn_common *c)
{
	int i;

	for (i = 0; i < VPN_NUM_VEC; i++) {
		if (c->irq_ok[i])
			free_irq(pci_irq_vector(c->pdev, i), c);
		c->irq_ok[i] = false;
	}
}

/* From now on the config work does nothing. */
void vpn_mark_removing(struct vpn_common *c)
{
	rtnl_lock();
	WRITE_ONCE(c->removing, true);
	rtnl_unlock();
}

/* Shutdown: stop the config work and detach and close the interface. */
void vpn_shutdown_quiesce(struct vpn_common *c, struct net_device *dev)
{
	rtnl_lock();
	WRITE_ONCE(c->removing, true);
	netif_device_detach(dev);
	if (netif_running(dev))
		dev_close(dev);
	rtnl_unlock();
}
