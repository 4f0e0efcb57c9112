// SPDX-License-Identifier: GPL-2.0
/*
 * vhost_pci_net: guest driver for tandem's vhost-pci-net device (PCI 1af4:10fa). This file holds
 * the module entry and the 2.0 (asymmetric) mode; a device whose vendor capability is of kind 0x02
 * is handed to the 2.1 symmetric mode in vpn_sym.c (see vpn.h).
 *
 * 2.0 mode:
 * The device (docs/vhost-pci-net.md in tandem) maps all of a peer VM's memory (VM2) into BAR2 and
 * publishes VM2's virtio-net split rings in a read-only metadata page at BAR2 offset 0. This
 * driver plays the role of VM2's virtio-net *device* on queue pair 0:
 *
 *   transmit: pop a chain from peer vring 0 (VM2's RX ring), write virtio_net_hdr + frame straight
 *             into VM2's buffers (one copy), publish used, ring doorbell 0 (VM2's RX interrupt).
 *   receive:  NAPI on vector 2 pops chains from peer vring 1 (VM2's TX ring), copies the frame once
 *             into an skb, completes used {id, 0}, rings doorbell 1 (VM2's TX completion).
 *
 * Everything read from VM2's rings is untrusted: descriptor indices are checked against num,
 * chains are bounded, every buffer must lie inside one region of the metadata page's table. A bad
 * chain drops the packet and completes the buffer with length 0.
 *
 * Concurrency: ring 0 state belongs to ndo_start_xmit (netif tx lock); ring 1 state belongs to the
 * NAPI poll. The config work (vector 0) changes ring/region state only with NAPI disabled and the
 * tx lock held, under RTNL (which also serialises it against ndo_open/ndo_stop).
 */

#include <linux/bitops.h>
#include <linux/ethtool.h>
#include <linux/etherdevice.h>
#include <linux/if_vlan.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/pci.h>
#include <linux/rtnetlink.h>
#include <linux/sched.h>
#include <linux/sched/clock.h>
#include <linux/skbuff.h>
#include <linux/timer.h>
#include <linux/u64_stats_sync.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <linux/workqueue.h>

#include "vpn.h"
#include "vpn_ring.h"

#define DRV_VERSION	"2.0"

/* BAR0 registers of 2.0 only (spec §3; the shared ones are in vpn.h). */
#define VPN_REG_STOP_REQ_LO	0x18
#define VPN_REG_STOP_REQ_HI	0x1c
#define VPN_REG_STOP_ACK	0x20
#define VPN_REG_STOP_TIMEOUT	0x24

#define VPN_META_MAGIC		0x4d505654u	/* "TVPM" */

/* Link states (§5) besides DOWN and UP (vpn.h). */
#define VPN_LINK_NEGOTIATING	1
#define VPN_LINK_STOPPING	3

/* Queue entry flags (§4.4). */
#define VPN_Q_LIVE		BIT(0)
#define VPN_Q_KICK_IRQ		BIT(1)
#define VPN_Q_CALL_DOORBELL	BIT(2)
#define VPN_Q_STOP_REQUESTED	BIT(3)

#define VPN_META_SIZE		0x1000
#define VPN_MAX_QUEUES		64

/* MSI-X vectors and peer vrings of queue pair 0. */
#define VPN_VEC_CONFIG		0
#define VPN_VEC_TX		1	/* VM2 kicked vring 0 (its RX): new buffers for us to fill */
#define VPN_VEC_RX		2	/* VM2 kicked vring 1 (its TX): packets for us */
#define VPN_TX			0	/* peer vring 0 */
#define VPN_RX			1	/* peer vring 1 */

/* Limits on what the peer can make us do per packet are the ring core's (vpn_ring.h). */
#define VPN_MAX_MTU		9000
#define VPN_TX_SPANS		256	/* pieces of one skb handed to the ring core (GRO frag_lists) */

/* The ring core reads and writes skb pages through their kernel addresses. */
#ifdef CONFIG_HIGHMEM
#error "vhost_pci_net needs every page mapped (64-bit kernels: no CONFIG_HIGHMEM)"
#endif

/* Feature bits we care about (virtio_net.h / virtio_config.h / virtio_ring.h numbering). */
#define VPN_F(bit)		(1ULL << (bit))
#define VPN_FEATURES_REFUSED	(VPN_F(VIRTIO_F_RING_PACKED) | VPN_F(VIRTIO_F_ACCESS_PLATFORM) | \
				 VPN_F(VIRTIO_NET_F_HASH_REPORT))

/* ---- shared layouts (little-endian) ---- */

struct vpn_meta_region {
	__le64 gpa;
	__le64 size;
	__le64 bar_offset;
	__le64 reserved;
};

struct vpn_meta_queue {
	__le32 flags;
	__le16 num;
	__le16 base;
	__le64 desc_gpa;
	__le64 avail_gpa;
	__le64 used_gpa;
	__le16 vector;
	__le16 reserved0;
	__le32 doorbell;
	__le64 reserved1;
};

/* The part of the metadata page the driver copies: header, regions, queues 0 and 1. */
struct vpn_meta_head {
	__le32 magic;
	__le32 version;
	__le32 generation;
	__le32 link_state;
	__le32 session;
	__le32 nregions;
	__le32 nqueues;
	__le32 reserved;
	__le64 peer_features;
	__le64 peer_protocol_features;
	__le64 stop_request;
	__le64 peer_bar_size;
	struct vpn_meta_region region[VPN_MAX_REGIONS];
	struct vpn_meta_queue queue[2];
};

static_assert(sizeof(struct vpn_meta_region) == 32);
static_assert(sizeof(struct vpn_meta_queue) == 48);
static_assert(offsetof(struct vpn_meta_head, peer_features) == 0x20);
static_assert(offsetof(struct vpn_meta_head, region) == 0x40);
static_assert(offsetof(struct vpn_meta_head, queue) == 0x140);

/* ---- driver state ---- */

struct vpn_region {
	u64 gpa;
	u64 size;
	u64 bar_offset;
};

/* A parsed, validated-for-shape copy of the metadata page. */
struct vpn_meta {
	u32 link_state;
	u32 session;
	u32 nregions;
	u64 features;
	u64 stop_request;
	struct vpn_region region[VPN_MAX_REGIONS];
	struct {
		u32 flags;
		u16 num;
		u16 base;
		u64 desc;
		u64 avail;
		u64 used;
	} q[2];
};

struct vpn_ring {
	struct vpn_vq vq;		/* the ring core's state: position, suppression, broken */
	unsigned int index;		/* peer vring index: VPN_TX or VPN_RX */
	bool running;			/* started in this session; the data path may use it */
	bool pos_valid;			/* vq.last_avail is meaningful for .session */
	bool stop_acked;		/* the current stop request has been acked */
	bool hold;			/* unusable entry: do not start until it changes or drops LIVE */
	u32 qflags;			/* KICK_IRQ / CALL_DOORBELL of the live entry */
	void __iomem *doorbell;
	/* what the ring was started with */
	u32 session;
	u16 num;
	u16 base;
	u64 desc_gpa, avail_gpa, used_gpa;
};

enum vpn_rx_stat {
	VPN_RX_PACKETS, VPN_RX_BYTES, VPN_RX_NOMEM, VPN_RX_BAD_CHAIN, VPN_RX_BAD_LEN, VPN_RX_BAD_HDR,
	VPN_RX_DOORBELLS, VPN_RX_NSTATS
};

enum vpn_tx_stat {
	VPN_TX_PACKETS, VPN_TX_BYTES, VPN_TX_BAD_CHAIN, VPN_TX_TOO_BIG, VPN_TX_NO_RING, VPN_TX_OFFLOAD,
	VPN_TX_RING_FULL, VPN_TX_DOORBELLS, VPN_TX_NSTATS
};

enum vpn_misc_stat {
	VPN_CONFIG_IRQS, VPN_TX_IRQS, VPN_RX_IRQS, VPN_RING_STARTS, VPN_STOP_ACKS, VPN_RING_ERRORS,
	VPN_BAD_METADATA, VPN_TX_BUSY_POLL_HITS, VPN_MISC_NSTATS
};

static const char vpn_stat_names[][ETH_GSTRING_LEN] = {
	"rx_packets", "rx_bytes", "rx_drop_nomem", "rx_bad_chain", "rx_bad_len", "rx_bad_hdr",
	"rx_doorbells",
	"tx_packets", "tx_bytes", "tx_bad_chain", "tx_drop_too_big", "tx_drop_no_ring",
	"tx_drop_offload", "tx_ring_full", "tx_doorbells",
	"config_irqs", "tx_irqs", "rx_irqs", "ring_starts", "stop_acks", "ring_errors", "bad_metadata",
	"tx_busy_poll_hits",
};

static_assert(ARRAY_SIZE(vpn_stat_names) == VPN_RX_NSTATS + VPN_TX_NSTATS + VPN_MISC_NSTATS);

static_assert(VPN_RX_NSTATS <= 8 && VPN_TX_NSTATS <= 8);
static_assert(VPN_RX_PACKETS == VPN_STAT_PACKETS && VPN_RX_BYTES == VPN_STAT_BYTES);
static_assert(VPN_TX_PACKETS == VPN_STAT_PACKETS && VPN_TX_BYTES == VPN_STAT_BYTES);

struct vpn_priv {
	struct vpn_common common;	/* first: see vpn.h (pdev, napi, removing, irq_ok) */
	struct net_device *dev;
	void __iomem *regs;
	u8 *bar2;			/* memremap(WB) of all of BAR2 */
	u64 bar2_len;
	const struct vpn_meta_head *meta;	/* == bar2 */

	/* Changed only by the config work, with both data paths quiesced. */
	u32 nregions;
	struct vpn_region region[VPN_MAX_REGIONS];
	struct vpn_mem mem;		/* the regions as the ring core translates them */
	u64 features;
	struct vpn_vq_features vqf;	/* what the rings take of the features */
	bool host_offload;
	u32 session;
	bool bad_meta_logged;

	struct vpn_ring ring[2];
	struct delayed_work config_work;
	struct timer_list poll_timer;	/* for directions without KICK_IRQ (peer passed NOFD) */

	struct vpn_span tx_spans[VPN_TX_SPANS];		/* xmit scratch (tx lock) */
	bool tx_wait_ok;	/* tx lock: no busy-poll wait timed out since a packet last went out */
	struct vpn_span rx_segs[VPN_MAX_RX_SEGS];	/* poll scratch (NAPI) */
	struct vpn_span rx_dst[MAX_SKB_FRAGS + 1];	/* poll scratch (NAPI) */

	struct vpn_ctx_stats rx_stats;
	struct vpn_ctx_stats tx_stats;
	atomic64_t misc[VPN_MISC_NSTATS];
};

static_assert(offsetof(struct vpn_priv, common) == 0);

/* ---- the peer's rings: the ring core (vpn_ring.c) walks them, this file rings and counts ---- */

static void vpn_notify(struct vpn_priv *p, struct vpn_ring *r)
{
	if (!vpn_vq_need_notify(&r->vq))
		return;
	iowrite32(r->index, r->doorbell);
	if (r->index == VPN_TX)
		vpn_stat_inc(&p->tx_stats, VPN_TX_DOORBELLS);
	else
		vpn_stat_inc(&p->rx_stats, VPN_RX_DOORBELLS);
}

/* The ring core found an impossible avail.idx and marked the ring broken: say so, count it. */
static void vpn_ring_broke(struct vpn_priv *p, struct vpn_ring *r)
{
	netdev_err(p->dev, "peer vring %u: avail.idx %u with last_avail %u and num %u; ring stopped\n",
		   r->index, r->vq.bad_avail, r->vq.bad_last, r->vq.num);
	atomic64_inc(&p->misc[VPN_RING_ERRORS]);
}

/*
 * The bytes of skb as the ring core takes them, in order: the linear part, the page fragments,
 * then those of each skb on the frag_list. -E2BIG if they take more than max spans (or the
 * frag_list nests).
 */
static int vpn_skb_spans(struct sk_buff *skb, struct vpn_span *s, unsigned int max, bool walk)
{
	struct sk_buff *it;
	unsigned int i, n = 0;
	int k;

	if (skb_headlen(skb)) {
		s[n].p = skb->data;
		s[n++].len = skb_headlen(skb);
	}
	if (n + skb_shinfo(skb)->nr_frags > max)
		return -E2BIG;
	for (i = 0; i < skb_shinfo(skb)->nr_frags; i++) {
		const skb_frag_t *f = &skb_shinfo(skb)->frags[i];

		s[n].p = skb_frag_address(f);
		s[n++].len = skb_frag_size(f);
	}
	if (!skb_has_frag_list(skb))
		return n;
	if (!walk)
		return -E2BIG;
	skb_walk_frags(skb, it) {
		if (n == max)
			return -E2BIG;
		k = vpn_skb_spans(it, s + n, max - n, false);
		if (k < 0)
			return k;
		n += k;
	}
	return n;
}

/* ---- transmit: fill VM2's RX buffers (peer vring 0) ---- */

/* The frame's spans into p->tx_spans; a frag_list too long or nested is linearized first. */
static int vpn_tx_spans(struct vpn_priv *p, struct sk_buff *skb)
{
	int n = vpn_skb_spans(skb, p->tx_spans, VPN_TX_SPANS, true);

	if (n >= 0)
		return n;
	if (__skb_linearize(skb))
		return -ENOMEM;
	return vpn_skb_spans(skb, p->tx_spans, VPN_TX_SPANS, true);
}

/* Count and free a packet vpn_vq_tx did not publish as sent. */
static void vpn_tx_drop(struct vpn_priv *p, struct vpn_ring *r, struct sk_buff *skb,
			enum vpn_tx_result res)
{
	switch (res) {
	case VPN_VQ_TX_BAD:
		net_warn_ratelimited("%s: bad descriptor chain in peer vring 0; packet dropped\n",
				     p->dev->name);
		vpn_stat_inc(&p->tx_stats, VPN_TX_BAD_CHAIN);
		break;
	case VPN_VQ_TX_TOOBIG:
		vpn_stat_inc(&p->tx_stats, VPN_TX_TOO_BIG);
		break;
	default:	/* VPN_VQ_TX_BROKEN */
		vpn_ring_broke(p, r);
		vpn_stat_inc(&p->tx_stats, VPN_TX_NO_RING);
		break;
	}
	dev_kfree_skb_any(skb);
}

/* Publish the batch's used entries (vpn_vq_tx defers them) and ring if VM2 wants it. */
static void vpn_tx_flush(struct vpn_priv *p, struct vpn_ring *r)
{
	vpn_vq_flush(&r->vq);
	if (r->vq.notify_pending)
		vpn_notify(p, r);
}

/*
 * ---- busy polling within a budget ----
 * Transmit: a transmit that finds too few of the peer's buffers waits for more for up to
 * busy_poll_us before it stops its queue and asks for a kick (vpn_tx_wait_room).
 * Receive: socket busy polling (SO_BUSY_POLL, net.core.busy_read) reaches our NAPI poll, since
 * napi_gro_receive marks each skb with it; NAPI's deferral (napi_defer_hard_irqs with
 * gro_flush_timeout, per device in sysfs) keeps the peer's kicks off between polls when set. The
 * driver leaves both at the kernel's defaults (off): measured, a deferral round cost TCP a tenth
 * to a fifth of its rate in a nested guest and saved no kick per packet (README.md).
 */
static unsigned int busy_poll_us = 50;
module_param(busy_poll_us, uint, 0644);
MODULE_PARM_DESC(busy_poll_us,
		 "microseconds a transmit waits for the peer's buffers before stopping its queue (0: off, at most 1000)");

static u64 vpn_busy_poll_deadline(void)
{
	unsigned int us = min(READ_ONCE(busy_poll_us), 1000U);

	return us ? local_clock() + (u64)us * NSEC_PER_USEC : 0;
}

/* True while the budget lasts and nothing else wants this CPU; relaxes the CPU once. */
static bool vpn_busy_poll_continue(u64 deadline)
{
	if (!deadline || irqs_disabled() || need_resched() || local_clock() >= deadline)
		return false;
	cpu_relax();
	return true;
}

/*
 * VM2's RX ring has no (or too little) room for this packet: publish what we filled (VM2 refills
 * only after it took those), then busy-poll until VM2 adds buffers. *until is the transmit's one
 * time budget (busy_poll_us), set at its first wait. True when buffers came within it. After a
 * wait that found none, the next waits only when a packet went out since: an idle or stalling
 * VM2, or one that kicks without adding buffers, costs one budget, not one per wake-up.
 */
static bool vpn_tx_wait_room(struct vpn_priv *p, struct vpn_ring *r, u64 *until)
{
	vpn_tx_flush(p, r);
	if (!p->tx_wait_ok)
		return false;
	if (!*until)
		*until = vpn_busy_poll_deadline();
	while (vpn_busy_poll_continue(*until)) {
		if (vpn_vq_avail_moved(&r->vq)) {
			atomic64_inc(&p->misc[VPN_TX_BUSY_POLL_HITS]);
			return true;
		}
	}
	p->tx_wait_ok = false;
	return false;
}

static netdev_tx_t vpn_start_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct vpn_priv *p = netdev_priv(dev);
	struct vpn_ring *r = &p->ring[VPN_TX];
	struct virtio_net_hdr_mrg_rxbuf vh = {};
	enum vpn_tx_result res;
	unsigned int len = skb->len;
	u64 spin_until = 0;
	int nspans;

	if (unlikely(!r->running)) {
		vpn_stat_inc(&p->tx_stats, VPN_TX_NO_RING);
		dev_kfree_skb_any(skb);
		return NETDEV_TX_OK;	/* vpn_ring_stop published everything */
	}
	if (unlikely(r->vq.broken)) {
		vpn_stat_inc(&p->tx_stats, VPN_TX_NO_RING);
		dev_kfree_skb_any(skb);
		goto out;
	}
	/* Offloads exactly as VM2 negotiated them (vpn_fix_features keeps the netdev in line). */
	if (vpn_tx_offload_hdr(skb, &vh.hdr, p->features, VPN_F(VIRTIO_NET_F_GUEST_CSUM), true)) {
		vpn_stat_inc(&p->tx_stats, VPN_TX_OFFLOAD);
		dev_kfree_skb_any(skb);
		goto out;
	}
	nspans = vpn_tx_spans(p, skb);
	if (nspans < 0) {
		vpn_stat_inc(&p->tx_stats, VPN_TX_OFFLOAD);
		dev_kfree_skb_any(skb);
		goto out;
	}

	/*
	 * Bounded: we only go round again when VM2 added entries, within one busy_poll_us budget or
	 * after a kick, and a packet takes at most VPN_MAX_TX_HEADS of them before it counts as too big.
	 */
	for (;;) {
		res = vpn_vq_tx(&r->vq, (u8 *)&vh, p->tx_spans, nspans);
		if (res != VPN_VQ_TX_NOBUF)
			break;
		/* No room: VM2 may be refilling right now; look again for a while (busy_poll_us). */
		if (vpn_tx_wait_room(p, r, &spin_until))
			continue;
		/* Still none: stop, ask VM2 for a kick (vector 1 wakes us), and re-check for a race. */
		netif_stop_queue(dev);
		vpn_stat_inc(&p->tx_stats, VPN_TX_RING_FULL);
		if (!vpn_vq_kick_enable(&r->vq)) {
			vpn_tx_flush(p, r);
			return NETDEV_TX_BUSY;
		}
		netif_start_queue(dev);
	}
	vpn_vq_kick_disable(&r->vq);

	if (res == VPN_VQ_TX_DONE) {
		p->tx_wait_ok = true;
		vpn_stat_packet(&p->tx_stats, len);
		dev_consume_skb_any(skb);
	} else {
		vpn_tx_drop(p, r, skb, res);
	}

	/* Stop early when VM2's ring is empty (and stays so), so the next packet does not bounce. */
	if (!r->vq.broken && vpn_vq_empty(&r->vq) && !vpn_tx_wait_room(p, r, &spin_until)) {
		netif_stop_queue(dev);
		if (vpn_vq_kick_enable(&r->vq))
			netif_start_queue(dev);
	}
out:
	/* One used.idx store and at most one doorbell per xmit_more batch. */
	if (!netdev_xmit_more() || netif_queue_stopped(dev))
		vpn_tx_flush(p, r);
	return NETDEV_TX_OK;
}

/* ---- receive: drain VM2's TX ring (peer vring 1) ---- */

/* Consume one chain: deliver its frame or drop it. The caller completes it with length 0. */
static void vpn_rx_one(struct vpn_priv *p, struct vpn_ring *r, u16 head)
{
	struct virtio_net_hdr_mrg_rxbuf vhdr = {};
	struct sk_buff *skb;
	enum vpn_rx_result res;
	u32 nseg, len;
	int ndst;

	res = vpn_vq_rx_gather(&r->vq, head, p->rx_segs, &nseg, &len);
	if (res == VPN_VQ_RX_BAD_CHAIN) {
		net_warn_ratelimited("%s: bad descriptor chain in peer vring 1; packet dropped\n",
				     p->dev->name);
		vpn_stat_inc(&p->rx_stats, VPN_RX_BAD_CHAIN);
		return;
	}
	if (res != VPN_VQ_RX_OK) {
		vpn_stat_inc(&p->rx_stats, VPN_RX_BAD_LEN);
		return;
	}

	skb = vpn_rx_alloc_skb(&p->common.napi, len);
	if (!skb) {
		vpn_stat_inc(&p->rx_stats, VPN_RX_NOMEM);
		return;
	}
	/* A fresh skb: its linear part and page fragments, no frag_list. */
	ndst = vpn_skb_spans(skb, p->rx_dst, ARRAY_SIZE(p->rx_dst), false);
	if (ndst < 0) {
		dev_kfree_skb_any(skb);	/* cannot happen: see vpn_rx_alloc_skb */
		vpn_stat_inc(&p->rx_stats, VPN_RX_NOMEM);
		return;
	}
	/* One copy: the header into vhdr, the frame into the skb. */
	vpn_rx_copy(p->rx_segs, nseg, r->vq.f.hdr_len, (u8 *)&vhdr, p->rx_dst, ndst);

	/* Checksum/GSO offload from VM2 only if it negotiated it; otherwise the header is ignored. */
	vpn_rx_deliver(&p->common.napi, &p->rx_stats, VPN_RX_BAD_HDR, skb,
		       p->host_offload ? &vhdr.hdr : NULL, len);
}

static int vpn_poll(struct napi_struct *napi, int budget)
{
	struct vpn_priv *p = container_of(napi, struct vpn_priv, common.napi);
	struct vpn_ring *r = &p->ring[VPN_RX];
	int done = 0, err;
	u16 head;

	if (!r->running || r->vq.broken) {
		napi_complete_done(napi, 0);
		return 0;
	}
	vpn_vq_kick_disable(&r->vq);
	while (done < budget) {
		err = vpn_vq_avail_next(&r->vq, &head);
		if (err < 0)
			vpn_ring_broke(p, r);
		if (err <= 0)
			break;
		vpn_rx_one(p, r, head);
		vpn_vq_used_add(&r->vq, head, 0);
		done++;
	}
	if (done) {
		vpn_vq_used_publish(&r->vq);
		vpn_notify(p, r);
	}
	if (done < budget && napi_complete_done(napi, done)) {
		if (!r->vq.broken && vpn_vq_kick_enable(&r->vq))
			napi_schedule(napi);
	}
	return done;
}

/* ---- interrupts ---- */

static irqreturn_t vpn_irq_config(int irq, void *data)
{
	struct vpn_priv *p = data;

	atomic64_inc(&p->misc[VPN_CONFIG_IRQS]);
	mod_delayed_work(system_wq, &p->config_work, 0);
	return IRQ_HANDLED;
}

static irqreturn_t vpn_irq_tx(int irq, void *data)
{
	struct vpn_priv *p = data;

	atomic64_inc(&p->misc[VPN_TX_IRQS]);
	if (READ_ONCE(p->common.removing))
		return IRQ_HANDLED;
	/* xmit re-checks the ring under the tx lock; a spurious wake only costs one retry. */
	if (READ_ONCE(p->ring[VPN_TX].running) && netif_queue_stopped(p->dev))
		netif_wake_queue(p->dev);
	return IRQ_HANDLED;
}

static irqreturn_t vpn_irq_rx(int irq, void *data)
{
	struct vpn_priv *p = data;

	atomic64_inc(&p->misc[VPN_RX_IRQS]);
	napi_schedule(&p->common.napi);
	return IRQ_HANDLED;
}

/* Polling for directions whose kicks do not reach us (KICK_IRQ clear: the peer passed NOFD). */
static void vpn_poll_timer(struct timer_list *t)
{
	struct vpn_priv *p = from_timer(p, t, poll_timer);
	bool again = false;

	if (READ_ONCE(p->common.removing))
		return;
	if (READ_ONCE(p->ring[VPN_RX].running) &&
	    !(READ_ONCE(p->ring[VPN_RX].qflags) & VPN_Q_KICK_IRQ)) {
		napi_schedule(&p->common.napi);
		again = true;
	}
	if (READ_ONCE(p->ring[VPN_TX].running) &&
	    !(READ_ONCE(p->ring[VPN_TX].qflags) & VPN_Q_KICK_IRQ)) {
		if (netif_queue_stopped(p->dev))
			netif_wake_queue(p->dev);
		again = true;
	}
	if (again)
		mod_timer(&p->poll_timer, jiffies + 1);
}

/* ---- metadata page and link management ---- */

/* Copy the metadata page under its seqlock (§4.5) and parse it. -EAGAIN: still being updated. */
static int vpn_read_meta(struct vpn_priv *p, struct vpn_meta *m)
{
	struct vpn_meta_head h;
	const struct vpn_meta_head *src = p->meta;
	u32 g, i;
	int tries;

	for (tries = 0;; tries++) {
		if (tries == 200)
			return -EAGAIN;
		g = le32_to_cpu(READ_ONCE(src->generation));
		if (g & 1) {
			usleep_range(20, 50);
			continue;
		}
		virt_rmb();
		memcpy(&h, src, sizeof(h));
		virt_rmb();
		if (le32_to_cpu(READ_ONCE(src->generation)) == g)
			break;
	}

	if (le32_to_cpu(h.magic) != VPN_META_MAGIC ||
	    le32_to_cpu(h.version) >> 16 != VPN_VERSION_MAJOR) {
		if (!p->bad_meta_logged)
			netdev_err(p->dev, "metadata page: magic %#x version %#x; link kept down\n",
				   le32_to_cpu(h.magic), le32_to_cpu(h.version));
		p->bad_meta_logged = true;
		atomic64_inc(&p->misc[VPN_BAD_METADATA]);
		return -EINVAL;
	}

	memset(m, 0, sizeof(*m));
	m->link_state = le32_to_cpu(h.link_state);
	m->session = le32_to_cpu(h.session);
	m->features = le64_to_cpu(h.peer_features);
	m->stop_request = le64_to_cpu(h.stop_request);
	m->nregions = min_t(u32, le32_to_cpu(h.nregions), VPN_MAX_REGIONS);
	for (i = 0; i < m->nregions; i++) {
		struct vpn_region *r = &m->region[i];

		r->gpa = le64_to_cpu(h.region[i].gpa);
		r->size = le64_to_cpu(h.region[i].size);
		r->bar_offset = le64_to_cpu(h.region[i].bar_offset);
		/* Must lie in BAR2 after the metadata page, without wrap-around; else unusable. */
		if (!r->size || r->gpa > U64_MAX - r->size || r->bar_offset < VPN_META_SIZE ||
		    r->bar_offset > p->bar2_len || r->size > p->bar2_len - r->bar_offset) {
			netdev_warn(p->dev, "metadata page: region %u (gpa %#llx size %#llx bar_offset %#llx) ignored\n",
				    i, r->gpa, r->size, r->bar_offset);
			atomic64_inc(&p->misc[VPN_BAD_METADATA]);
			memset(r, 0, sizeof(*r));
		}
	}
	if (le32_to_cpu(h.nqueues) >= 2) {
		for (i = 0; i < 2; i++) {
			m->q[i].flags = le32_to_cpu(h.queue[i].flags);
			m->q[i].num = le16_to_cpu(h.queue[i].num);
			m->q[i].base = le16_to_cpu(h.queue[i].base);
			m->q[i].desc = le64_to_cpu(h.queue[i].desc_gpa);
			m->q[i].avail = le64_to_cpu(h.queue[i].avail_gpa);
			m->q[i].used = le64_to_cpu(h.queue[i].used_gpa);
		}
	}
	return 0;
}

/* Point the ring at VM2's structures through the current region table. */
static bool vpn_ring_map(struct vpn_priv *p, struct vpn_ring *r)
{
	return vpn_vq_map(&r->vq, &p->mem, r->num, r->desc_gpa, r->avail_gpa, r->used_gpa);
}

static void vpn_ring_stop(struct vpn_priv *p, struct vpn_ring *r)
{
	if (!r->running)
		return;
	vpn_vq_flush(&r->vq);	/* everything added is published, and announced */
	if (r->vq.notify_pending)
		vpn_notify(p, r);
	WRITE_ONCE(r->running, false);
}

static void vpn_ring_start(struct vpn_priv *p, struct vpn_ring *r, const struct vpn_meta *m)
{
	unsigned int i = r->index;

	r->num = m->q[i].num;
	r->desc_gpa = m->q[i].desc;
	r->avail_gpa = m->q[i].avail;
	r->used_gpa = m->q[i].used;
	r->base = m->q[i].base;
	r->session = m->session;
	r->qflags = m->q[i].flags;
	if (!vpn_ring_map(p, r)) {
		netdev_err(p->dev, "peer vring %u: num %u desc %#llx avail %#llx used %#llx not usable\n",
			   i, r->num, r->desc_gpa, r->avail_gpa, r->used_gpa);
		atomic64_inc(&p->misc[VPN_RING_ERRORS]);
		r->pos_valid = false;
		return;
	}
	r->vq.f = p->vqf;
	/* TX: no kicks until we run out of buffers. RX: kicks on. */
	vpn_vq_start(&r->vq, r->base, r->qflags & VPN_Q_CALL_DOORBELL, i == VPN_RX);
	r->vq.defer_publish = i == VPN_TX;	/* xmit publishes once per xmit_more batch */
	r->pos_valid = true;
	WRITE_ONCE(r->running, true);
	atomic64_inc(&p->misc[VPN_RING_STARTS]);
}

/* New features: what the rings take of them, for running rings too (both paths are quiesced). */
static void vpn_apply_features(struct vpn_priv *p, u64 features)
{
	struct vpn_vq_features *f = &p->vqf;
	unsigned int i;

	f->mrg = features & VPN_F(VIRTIO_NET_F_MRG_RXBUF);
	f->event_idx = features & VPN_F(VIRTIO_RING_F_EVENT_IDX);
	f->indirect = features & VPN_F(VIRTIO_RING_F_INDIRECT_DESC);
	f->hdr_len = (f->mrg || (features & VPN_F(VIRTIO_F_VERSION_1))) ?
		     VPN_HDR_MRG_LEN : VPN_HDR_LEN;
	p->host_offload = features & VPN_F(VIRTIO_NET_F_CSUM);
	for (i = 0; i < 2; i++)
		p->ring[i].vq.f = *f;
}

/* A new region table: the metadata's copy, and the ring core's view of it in BAR2. */
static void vpn_apply_regions(struct vpn_priv *p, const struct vpn_meta *m)
{
	u32 i;

	p->nregions = m->nregions;
	memcpy(p->region, m->region, sizeof(p->region));
	memset(&p->mem, 0, sizeof(p->mem));
	for (i = 0; i < m->nregions; i++) {
		const struct vpn_region *r = &m->region[i];

		/* vpn_read_meta zeroed a region outside BAR2: size 0 never translates. */
		p->mem.region[i].gpa = r->gpa;
		p->mem.region[i].size = r->size;
		p->mem.region[i].host = p->bar2 + r->bar_offset;
	}
	p->mem.nregions = m->nregions;
}

/*
 * Bring driver state in line with the metadata (m NULL: unusable page, all down). Runs with NAPI
 * disabled and the tx lock held. Returns the STOP_ACK values to write in acks[].
 */
static unsigned int vpn_apply(struct vpn_priv *p, const struct vpn_meta *m, u32 *acks)
{
	bool regions_changed, features_changed, features_ok;
	unsigned int i, nacks = 0;

	if (!m) {
		for (i = 0; i < 2; i++)
			vpn_ring_stop(p, &p->ring[i]);
		return 0;
	}

	regions_changed = m->nregions != p->nregions ||
			  memcmp(m->region, p->region, sizeof(m->region));
	features_changed = m->features != p->features;
	features_ok = !(m->features & VPN_FEATURES_REFUSED);
	if (features_changed) {
		/* As vhost: new features apply from the next packet (tandem stops rings first). */
		p->features = m->features;
		vpn_apply_features(p, m->features);
		if (!features_ok && m->session)
			netdev_err(p->dev, "peer features %#llx include unsupported %#llx; link kept down\n",
				   m->features, m->features & VPN_FEATURES_REFUSED);
	}
	if (regions_changed)
		vpn_apply_regions(p, m);
	p->session = m->session;

	for (i = 0; i < 2; i++) {
		struct vpn_ring *r = &p->ring[i];
		u32 qf = m->q[i].flags;
		bool stop_req = (m->stop_request & BIT_ULL(i)) || (qf & VPN_Q_STOP_REQUESTED);
		bool want = m->session && (qf & VPN_Q_LIVE) && !stop_req && features_ok;
		bool same = r->session == m->session && r->num == m->q[i].num &&
			    r->base == m->q[i].base && r->desc_gpa == m->q[i].desc &&
			    r->avail_gpa == m->q[i].avail && r->used_gpa == m->q[i].used;

		/*
		 * A ring that (re)goes live always starts at the entry's base: tandem sets it from
		 * our STOP_ACK, from used.idx, or from the peer's SET_VRING_BASE.
		 */
		if (!same || !(qf & VPN_Q_LIVE))
			r->hold = false;
		if (r->running && (!want || !same))
			vpn_ring_stop(p, r);
		if (r->running && regions_changed && !vpn_ring_map(p, r)) {
			/* tandem quiesces rings before a new table (§7.5); this should not happen */
			netdev_err(p->dev, "peer vring %u no longer inside the peer memory; stopped\n",
				   i);
			vpn_ring_stop(p, r);
			r->hold = true;	/* restarting at base would consume buffers twice */
		}
		if (want && !r->running && !r->hold) {
			vpn_ring_start(p, r, m);
			r->hold = !r->running;
		}
		WRITE_ONCE(r->qflags, qf);
		r->vq.call = qf & VPN_Q_CALL_DOORBELL;

		if (m->stop_request & BIT_ULL(i)) {
			if (!r->stop_acked) {
				u16 last = (r->pos_valid && r->session == m->session) ?
					   r->vq.last_avail : m->q[i].base;

				acks[nacks++] = i | (u32)last << 16;
				r->stop_acked = true;
			}
		} else {
			r->stop_acked = false;
		}
	}
	return nacks;
}

static void vpn_config_work(struct work_struct *work)
{
	struct vpn_priv *p = container_of(to_delayed_work(work), struct vpn_priv, config_work);
	struct net_device *dev = p->dev;
	struct vpn_meta *m;
	u32 acks[2];
	unsigned int nacks, i;
	bool up, poll = false;
	u64 old_features;
	int err;

	m = kmalloc(sizeof(*m), GFP_KERNEL);
	if (!m) {
		schedule_delayed_work(&p->config_work, HZ / 100);
		return;
	}
	err = vpn_read_meta(p, m);
	if (err == -EAGAIN) {
		kfree(m);
		schedule_delayed_work(&p->config_work, HZ / 100);
		return;
	}

	rtnl_lock();
	if (p->common.removing)
		goto out;
	if (netif_running(dev))
		napi_disable(&p->common.napi);
	netif_tx_lock_bh(dev);
	old_features = p->features;
	nacks = vpn_apply(p, err ? NULL : m, acks);
	netif_tx_unlock_bh(dev);

	/* Both directions are quiescent and every used entry is published: acknowledge. */
	for (i = 0; i < nacks; i++) {
		iowrite32(acks[i], p->regs + VPN_REG_STOP_ACK);
		atomic64_inc(&p->misc[VPN_STOP_ACKS]);
	}

	if (p->features != old_features)
		netdev_update_features(dev);

	up = !err && m->link_state == VPN_LINK_UP && p->ring[VPN_TX].running &&
	     p->ring[VPN_RX].running;
	if (up)
		netif_carrier_on(dev);
	else
		netif_carrier_off(dev);

	if (netif_running(dev)) {
		napi_enable(&p->common.napi);
		if (p->ring[VPN_RX].running)
			napi_schedule(&p->common.napi);
		if (p->ring[VPN_TX].running)
			netif_wake_queue(dev);
		else
			netif_stop_queue(dev);
	}
	for (i = 0; i < 2; i++)
		if (p->ring[i].running && !(p->ring[i].qflags & VPN_Q_KICK_IRQ))
			poll = true;
	if (poll)
		mod_timer(&p->poll_timer, jiffies + 1);
out:
	rtnl_unlock();
	kfree(m);
}

/* ---- net_device ---- */

static int vpn_open(struct net_device *dev)
{
	struct vpn_priv *p = netdev_priv(dev);

	return vpn_common_open(dev, p->ring[VPN_TX].running);
}

static void vpn_get_stats64(struct net_device *dev, struct rtnl_link_stats64 *s)
{
	struct vpn_priv *p = netdev_priv(dev);
	u64 rx[VPN_RX_NSTATS], tx[VPN_TX_NSTATS];

	vpn_stats_read(&p->rx_stats, rx, VPN_RX_NSTATS);
	vpn_stats_read(&p->tx_stats, tx, VPN_TX_NSTATS);
	s->rx_packets = rx[VPN_RX_PACKETS];
	s->rx_bytes = rx[VPN_RX_BYTES];
	s->rx_dropped = rx[VPN_RX_NOMEM];
	s->rx_length_errors = rx[VPN_RX_BAD_LEN];
	s->rx_frame_errors = rx[VPN_RX_BAD_HDR];
	s->rx_errors = rx[VPN_RX_BAD_CHAIN] + rx[VPN_RX_BAD_LEN] + rx[VPN_RX_BAD_HDR];
	s->tx_packets = tx[VPN_TX_PACKETS];
	s->tx_bytes = tx[VPN_TX_BYTES];
	s->tx_dropped = tx[VPN_TX_TOO_BIG] + tx[VPN_TX_NO_RING] + tx[VPN_TX_OFFLOAD];
	s->tx_errors = tx[VPN_TX_BAD_CHAIN];
}

/* Offer the stack only the offloads VM2 negotiated for its receive side. */
static netdev_features_t vpn_fix_features(struct net_device *dev, netdev_features_t f)
{
	struct vpn_priv *p = netdev_priv(dev);

	return vpn_offload_features(f, p->features, VPN_F(VIRTIO_NET_F_GUEST_CSUM));
}

static const struct net_device_ops vpn_netdev_ops = {
	.ndo_fix_features	= vpn_fix_features,
	.ndo_open		= vpn_open,
	.ndo_stop		= vpn_common_stop,
	.ndo_start_xmit		= vpn_start_xmit,
	.ndo_get_stats64	= vpn_get_stats64,
	.ndo_set_mac_address	= eth_mac_addr,
	.ndo_validate_addr	= eth_validate_addr,
};

/* ethtool -S (vpn_ethtool_ops in vpn_common.c): the order of vpn_stat_names. */
static void vpn_get_ethtool_stats(struct net_device *dev, u64 *data)
{
	struct vpn_priv *p = netdev_priv(dev);

	vpn_read_counters(data, &p->rx_stats, VPN_RX_NSTATS, &p->tx_stats, VPN_TX_NSTATS, p->misc,
			  VPN_MISC_NSTATS);
}

static const struct vpn_mode_info vpn_info = {
	.version	= DRV_VERSION,
	.stat_names	= vpn_stat_names,
	.nstats		= ARRAY_SIZE(vpn_stat_names),
	.get_stats	= vpn_get_ethtool_stats,
};

/* ---- PCI ---- */

static const irq_handler_t vpn_handlers[VPN_NUM_VEC] = { vpn_irq_config, vpn_irq_tx, vpn_irq_rx };

/*
 * The layout capability: the first vendor-specific capability of a kind this driver knows. 0 if
 * there is none (a 2.0 device without it is still driven as 2.0); *kind is then 0.
 */
static u8 vpn_find_layout_cap(struct pci_dev *pdev, u8 *kind)
{
	u8 pos = pci_find_capability(pdev, PCI_CAP_ID_VNDR);
	u8 first = 0, first_kind = 0;

	while (pos) {
		pci_read_config_byte(pdev, pos + VPN_CAP_KIND, kind);
		if (*kind == VPN_CAP_KIND_ASYM || *kind == VPN_CAP_KIND_SYM)
			return pos;
		if (!first) {
			first = pos;
			first_kind = *kind;
		}
		pos = pci_find_next_capability(pdev, pos, PCI_CAP_ID_VNDR);
	}
	*kind = first_kind;
	return first;
}

/* BAR 0's registers (checked: magic, version, queues, vectors) and BAR 2's peer memory, mapped.
 * On failure nothing stays mapped. */
static int vpn_map_bars(struct pci_dev *pdev, struct vpn_priv *p, u32 *version, u32 *maxq)
{
	resource_size_t bar2_start;
	u32 magic, nvec;
	int err;

	if (!(pci_resource_flags(pdev, 0) & IORESOURCE_MEM) ||
	    pci_resource_len(pdev, 0) < VPN_DOORBELL_BASE + 2 * VPN_DOORBELL_STRIDE ||
	    !(pci_resource_flags(pdev, 2) & IORESOURCE_MEM) ||
	    pci_resource_len(pdev, 2) < 2 * VPN_META_SIZE) {
		dev_err(&pdev->dev, "unexpected BAR layout\n");
		return -ENODEV;
	}
	p->regs = vpn_map_regs(pdev, &magic, version, maxq, &nvec);
	if (!p->regs)
		return -ENOMEM;
	if (magic != VPN_MAGIC || *version >> 16 != VPN_VERSION_MAJOR) {
		dev_err(&pdev->dev, "not a vhost-pci-net 2.x device (magic %#x version %#x)\n",
			magic, *version);
		err = -ENODEV;
		goto err_unmap0;
	}
	if (*maxq < 2 || *maxq > VPN_MAX_QUEUES || nvec < VPN_NUM_VEC ||
	    pci_resource_len(pdev, 0) < VPN_DOORBELL_BASE + (u64)*maxq * VPN_DOORBELL_STRIDE) {
		dev_err(&pdev->dev, "MAX_QUEUES %u / NUM_VECTORS %u unusable\n", *maxq, nvec);
		err = -ENODEV;
		goto err_unmap0;
	}

	/* BAR2 is RAM on the host side (memslots): map it write-back, all of it, once. */
	bar2_start = pci_resource_start(pdev, 2);
	p->bar2_len = pci_resource_len(pdev, 2);
	p->bar2 = memremap(bar2_start, p->bar2_len, MEMREMAP_WB);
	if (!p->bar2) {
		dev_err(&pdev->dev, "cannot map BAR2 (%llu MiB)\n", p->bar2_len >> 20);
		err = -ENOMEM;
		goto err_unmap0;
	}
	return 0;

err_unmap0:
	pci_iounmap(pdev, p->regs);
	return err;
}

static int vpn_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct net_device *dev;
	struct vpn_priv *p;
	u32 version, maxq;
	int err, i;
	u8 cap, kind = 0;

	/* The mode follows the layout the device offers: kind 0x02 is the 2.1 symmetric mode. */
	cap = vpn_find_layout_cap(pdev, &kind);
	if (cap && kind == VPN_CAP_KIND_SYM)
		return vpn_sym_probe(pdev, cap);
	if (cap && kind != VPN_CAP_KIND_ASYM) {
		dev_err(&pdev->dev, "unknown layout kind %#x in the vendor capability\n", kind);
		return -ENODEV;
	}

	dev = vpn_alloc_netdev(pdev, sizeof(*p), VPN_MODE_ASYM, &vpn_info);
	if (!dev)
		return -ENOMEM;
	p = netdev_priv(dev);
	p->dev = dev;

	err = pci_enable_device(pdev);
	if (err)
		goto err_free;
	err = pci_request_region(pdev, 0, DRV_NAME);
	if (err)
		goto err_disable;
	err = pci_request_region(pdev, 2, DRV_NAME);
	if (err)
		goto err_release0;

	err = vpn_map_bars(pdev, p, &version, &maxq);
	if (err)
		goto err_release2;
	p->meta = (const struct vpn_meta_head *)p->bar2;

	for (i = 0; i < 2; i++) {
		p->ring[i].index = i;
		p->ring[i].doorbell = p->regs + VPN_DOORBELL_BASE + i * VPN_DOORBELL_STRIDE;
	}
	p->vqf.hdr_len = VPN_HDR_LEN;	/* as for features 0; set by vpn_apply */
	u64_stats_init(&p->rx_stats.syncp);
	u64_stats_init(&p->tx_stats.syncp);
	INIT_DELAYED_WORK(&p->config_work, vpn_config_work);
	timer_setup(&p->poll_timer, vpn_poll_timer, 0);
	netif_napi_add(dev, &p->common.napi, vpn_poll);

	err = vpn_alloc_vectors(pdev);
	if (err < 0)
		goto err_napi;

	/* Trimmed to what VM2 negotiated by vpn_fix_features (without a checksum offload the core
	 * also drops SG). */
	vpn_setup_netdev(dev, &vpn_netdev_ops, NETIF_F_SG | NETIF_F_FRAGLIST | NETIF_F_HW_CSUM |
			 NETIF_F_TSO | NETIF_F_TSO6 | NETIF_F_TSO_ECN, VPN_MAX_MTU);

	err = register_netdev(dev);
	if (err)
		goto err_vectors;

	err = vpn_request_irqs(&p->common, vpn_handlers);
	if (err)
		goto err_irqs;

	iowrite32(VPN_DRIVER_OK, p->regs + VPN_REG_DRIVER_STATUS);
	/* The device raises a config interrupt on DRIVER_OK; read the page now anyway. */
	mod_delayed_work(system_wq, &p->config_work, 0);

	netdev_info(dev, "vhost-pci-net %u.%u at %s: %u peer vrings, BAR2 %llu MiB, stop timeout %u ms\n",
		    version >> 16, version & 0xffff, pci_name(pdev), maxq, p->bar2_len >> 20,
		    ioread32(p->regs + VPN_REG_STOP_TIMEOUT));
	return 0;

err_irqs:
	vpn_mark_removing(&p->common);
	vpn_free_irqs(&p->common);
	cancel_delayed_work_sync(&p->config_work);
	unregister_netdev(dev);
err_vectors:
	pci_free_irq_vectors(pdev);
err_napi:
	netif_napi_del(&p->common.napi);
	memunmap(p->bar2);
	pci_iounmap(pdev, p->regs);
err_release2:
	pci_release_region(pdev, 2);
err_release0:
	pci_release_region(pdev, 0);
err_disable:
	pci_disable_device(pdev);
err_free:
	free_netdev(dev);
	return err;
}

static void vpn_remove(struct pci_dev *pdev)
{
	struct vpn_common *c = pci_get_drvdata(pdev);
	struct vpn_priv *p;
	struct net_device *dev;

	if (c->mode == VPN_MODE_SYM) {
		vpn_sym_remove(pdev);
		return;
	}
	p = container_of(c, struct vpn_priv, common);
	dev = p->dev;

	vpn_mark_removing(&p->common);	/* the config work does nothing from now on */
	del_timer_sync(&p->poll_timer);
	unregister_netdev(dev);	/* ndo_stop: NAPI and xmit quiesced, used entries published */
	/* DRIVER_OK off: tandem answers stop requests itself from used.idx (§7.7). */
	iowrite32(0, p->regs + VPN_REG_DRIVER_STATUS);
	vpn_free_irqs(&p->common);
	cancel_delayed_work_sync(&p->config_work);
	del_timer_sync(&p->poll_timer);
	pci_free_irq_vectors(pdev);
	netif_napi_del(&p->common.napi);
	memunmap(p->bar2);
	pci_iounmap(pdev, p->regs);
	pci_release_region(pdev, 2);
	pci_release_region(pdev, 0);
	pci_disable_device(pdev);
	free_netdev(dev);
}

static void vpn_shutdown(struct pci_dev *pdev)
{
	struct vpn_common *c = pci_get_drvdata(pdev);
	struct vpn_priv *p;

	if (!c)
		return;
	if (c->mode == VPN_MODE_SYM) {
		vpn_sym_shutdown(pdev);
		return;
	}
	p = container_of(c, struct vpn_priv, common);
	/* Quiesce, then tell the device we are gone so it does not wait for our stop acks. */
	vpn_shutdown_quiesce(&p->common, p->dev);
	iowrite32(0, p->regs + VPN_REG_DRIVER_STATUS);
}

static const struct pci_device_id vpn_pci_ids[] = {
	{ PCI_DEVICE(VPN_VENDOR, VPN_DEVICE) },
	{ }
};
MODULE_DEVICE_TABLE(pci, vpn_pci_ids);

static struct pci_driver vpn_pci_driver = {
	.name		= DRV_NAME,
	.id_table	= vpn_pci_ids,
	.probe		= vpn_probe,
	.remove		= vpn_remove,
	.shutdown	= vpn_shutdown,
};
module_pci_driver(vpn_pci_driver);

MODULE_DESCRIPTION("tandem vhost-pci-net 2.0/2.1 driver (VM-to-VM networking through peer memory or shared sections)");
MODULE_AUTHOR("tandem");
MODULE_LICENSE("GPL");
MODULE_VERSION("2.1");
