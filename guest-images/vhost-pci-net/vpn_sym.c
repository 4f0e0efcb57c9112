// SPDX-License-Identifier: GPL-2.0
/*
 * vhost_pci_net, 2.1 symmetric mode (docs/vhost-pci-net.md §9 in tandem).
 *
 * Both VMs have a vhost-pci-net device. Each owns one output section; the capability of kind 0x02
 * says where: [shm_base, +section_size) is ours (read-write), the peer's follows it (a read-only
 * memslot; reads give all-ones while no peer is installed). Probe maps both with one
 * memremap(MEMREMAP_WB) and claims no resource for them.
 *
 *   transmit: copy the frame once into our slot (tx_prod mod ring_size), fill the 32-byte entry
 *             (len + virtio_net_hdr_v1 with the checksum/GSO offload), publish tx_prod, ring our
 *             data doorbell (the peer's vector 2) if the peer's rx_wants_kick is set.
 *   receive:  NAPI on vector 2 copies each frame once out of the peer's slot into an skb (GRO),
 *             publishes rx_cons, rings our space doorbell (the peer's vector 1) if the peer's
 *             tx_wants_kick is set.
 *
 * Ring geometry (the owner chooses it, §9.3). Slots hold a whole frame, GSO frames included, so
 * the stack may hand us TSO frames of up to slot_size bytes (netif_set_tso_max_size). ring_size is
 * the largest power of two in 64..4096 whose slots still take a full-size TSO frame (at least
 * VPN_SYM_SLOT_TSO bytes, at most 65536), and the slots then take all the room the section has:
 *   section   1 MiB:   64 x 16256   (no ring of 64 takes 60 KiB slots: 64 entries, largest slot)
 *             2 MiB:   64 x 32640
 *             4 MiB:   64 x 65408   (the default)
 *             8 MiB:  128 x 65472     16 MiB: 256 x 65472   32 MiB: 512 x 65472   64 MiB: 1024 x 65472
 * TSO stays on while a slot holds at least VPN_SYM_TSO_MIN_SLOT bytes (every section size of the
 * spec gives that); below it ndo_fix_features turns TSO off. ndo_features_check sends a GSO skb
 * larger than a slot (forwarded GRO packets) through software segmentation.
 *
 * Everything in the peer's section is untrusted and may change at any moment: each index, length
 * and header field is read once (READ_ONCE) and checked before use, and no address is formed from
 * anything but the peer's geometry validated when the link started, which keeps every access
 * inside the peer's section. A bad length or header drops the packet (rx_bad_len, rx_bad_hdr); an
 * impossible index is a ring error (ring_errors): both directions stop, our ready goes to 0, the
 * carrier goes off, and the link stays down until the next PEER_GENERATION.
 *
 * Link (§9.6). The config work (vector 0, a data kick while waiting, and a slow poll) drives
 * DOWN -> WAIT -> RUN. On DOWN, on a new PEER_GENERATION and when the peer's ready drops it
 * resets our side: ready 0 first, then the indices. In WAIT it sets our ready, and goes to RUN once
 * the peer says ready with a valid header and indices that fit a fresh start. Our ready is held at
 * 0 while the peer still says ready with indices from before our reset (it has not noticed yet:
 * it polls our ready and restarts too), so neither side can start against stale indices. A data
 * path that meets an impossible index first looks whether the peer has simply gone or restarted
 * (its ready is not 1, or LINK_STATE / PEER_GENERATION moved) and then only hands over to the
 * config work without counting an error.
 *
 * Concurrency, as in 2.0: transmit state belongs to ndo_start_xmit (netif tx lock), receive state
 * to the NAPI poll. The config work changes link state only under RTNL with NAPI disabled and the
 * tx lock held.
 */

#include <linux/ethtool.h>
#include <linux/etherdevice.h>
#include <linux/if_vlan.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/log2.h>
#include <linux/netdevice.h>
#include <linux/pci.h>
#include <linux/rtnetlink.h>
#include <linux/skbuff.h>
#include <linux/virtio_net.h>
#include <linux/workqueue.h>

#include "vpn.h"

#define VPN_SYM_DRV_VERSION	"2.1"

/* Registers added in 2.1 (§9.2). */
#define VPN_REG_RO_WRITES	0x28
#define VPN_REG_PEER_GENERATION	0x2c

#define VPN_SYM_VERSION		0x00020001u	/* VERSION register and section header */
#define VPN_SYM_MINOR		1

/* The capability of kind 0x02 (§9.2): offsets from its start. */
#define VPN_SYM_CAP_LEN_OFF	2
#define VPN_SYM_CAP_BAR		4
#define VPN_SYM_CAP_SIDE	5
#define VPN_SYM_CAP_VERSION	6
#define VPN_SYM_CAP_SHM_BASE	8
#define VPN_SYM_CAP_SECTION	16
#define VPN_SYM_CAP_DB_OFFSET	20
#define VPN_SYM_CAP_DB_STRIDE	24
#define VPN_SYM_CAP_LEN		32
#define VPN_SYM_CAP_VER_MAJOR	0x02

/* Sections (§9.1, §9.3). */
#define VPN_SYM_SECTION_MAGIC	0x53505654u	/* "TVPS" */
#define VPN_SYM_SECTION_MIN	(1u << 20)
#define VPN_SYM_SECTION_MAX	(64u << 20)
#define VPN_SYM_RING_OFF	0x1000
#define VPN_SYM_RING_MIN	64
#define VPN_SYM_RING_MAX	4096
#define VPN_SYM_SLOT_MIN	2048
#define VPN_SYM_SLOT_MAX	65536
#define VPN_SYM_SLOT_ALIGN	64
#define VPN_SYM_BUF_ALIGN	4096

/* Our choices. */
#define VPN_SYM_SLOT_TSO	61440	/* a slot this large takes the stack's full-size TSO frames */
#define VPN_SYM_TSO_MIN_SLOT	8192	/* below this, TSO is off */
#define VPN_SYM_MAX_MTU		9000
#define VPN_SYM_RX_PUBLISH_MAX	64	/* publish rx_cons at least every this many entries */
#define VPN_SYM_WAIT_POLL	(HZ / 5)	/* the peer's ready, while we wait for it */
#define VPN_SYM_RUN_POLL	HZ		/* the peer's ready, while running (an idle link) */
#define VPN_SYM_KICK_GAP	(HZ / 50)	/* at most one look per this on data kicks in WAIT */

/* MSI-X vectors (§9.4), VPN_NUM_VEC of them. */
#define VPN_SYM_VEC_CONFIG	0
#define VPN_SYM_VEC_SPACE	1	/* the peer consumed our entries */
#define VPN_SYM_VEC_DATA	2	/* the peer published entries */

/*
 * The header `features` (§9.3): we write the offloads we accept in the peer's entries and set in
 * our own entries only those the peer's header lists. NEEDS_CSUM and DATA_VALID: CSUM or
 * GUEST_CSUM; GSO TCPV4 / TCPV6 / the ECN bit: GUEST_TSO4 / GUEST_TSO6 / GUEST_ECN.
 */
#define VPN_SYM_F(bit)		(1u << (bit))
#define VPN_SYM_F_CSUM		(VPN_SYM_F(VIRTIO_NET_F_CSUM) | VPN_SYM_F(VIRTIO_NET_F_GUEST_CSUM))
#define VPN_SYM_OWN_FEATURES	(VPN_SYM_F_CSUM | VPN_SYM_F(VIRTIO_NET_F_GUEST_TSO4) | \
				 VPN_SYM_F(VIRTIO_NET_F_GUEST_TSO6) | VPN_SYM_F(VIRTIO_NET_F_GUEST_ECN))

/* ---- shared layouts (little-endian) ---- */

struct vpn_sym_hdr {
	__le32 magic;			/* 0x000 */
	__le32 version;
	__le32 ready;
	__le32 ring_size;
	__le32 slot_size;		/* 0x010 */
	__le32 buf_offset;
	__le32 features;
	u8 pad0[0x40 - 0x1c];
	__le32 tx_prod;			/* 0x040 */
	u8 pad1[0x3c];
	__le32 rx_cons;			/* 0x080 */
	u8 pad2[0x3c];
	__le32 rx_wants_kick;		/* 0x0c0 */
	u8 pad3[0x3c];
	__le32 tx_wants_kick;		/* 0x100 */
};

static_assert(offsetof(struct vpn_sym_hdr, features) == 0x018);
static_assert(offsetof(struct vpn_sym_hdr, tx_prod) == 0x040);
static_assert(offsetof(struct vpn_sym_hdr, rx_cons) == 0x080);
static_assert(offsetof(struct vpn_sym_hdr, rx_wants_kick) == 0x0c0);
static_assert(offsetof(struct vpn_sym_hdr, tx_wants_kick) == 0x100);
static_assert(sizeof(struct vpn_sym_hdr) <= VPN_SYM_RING_OFF);

struct vpn_sym_entry {
	__le32 len;			/* frame bytes in the slot */
	__le32 hdr[3];			/* struct virtio_net_hdr_mrg_rxbuf (v1), num_buffers = 1 */
	__le32 reserved[4];
};

static_assert(sizeof(struct vpn_sym_entry) == 32);
static_assert(sizeof(struct virtio_net_hdr_mrg_rxbuf) == 12);

/* ---- driver state ---- */

enum vpn_sym_state {
	VPN_SYM_DOWN,		/* no peer section (LINK_STATE DOWN) */
	VPN_SYM_WAIT,		/* a peer section: waiting for both readys */
	VPN_SYM_RUN,		/* both ready, the peer's header validated: data paths run */
	VPN_SYM_BROKEN,		/* ring error: idle until the next PEER_GENERATION */
};

/* Why a data path stopped (tx_err / rx_err). */
enum { VPN_SYM_OK, VPN_SYM_STALL, VPN_SYM_RING_ERROR };

enum vpn_sym_rx_stat {
	VPN_SYM_RX_PACKETS, VPN_SYM_RX_BYTES, VPN_SYM_RX_NOMEM, VPN_SYM_RX_BAD_LEN,
	VPN_SYM_RX_BAD_HDR, VPN_SYM_RX_DOORBELLS, VPN_SYM_RX_NSTATS
};

enum vpn_sym_tx_stat {
	VPN_SYM_TX_PACKETS, VPN_SYM_TX_BYTES, VPN_SYM_TX_TOO_BIG, VPN_SYM_TX_NO_RING,
	VPN_SYM_TX_OFFLOAD, VPN_SYM_TX_RING_FULL, VPN_SYM_TX_DOORBELLS, VPN_SYM_TX_NSTATS
};

enum vpn_sym_misc_stat {
	VPN_SYM_CONFIG_IRQS, VPN_SYM_TX_IRQS, VPN_SYM_RX_IRQS, VPN_SYM_RING_STARTS,
	VPN_SYM_RING_ERRORS, VPN_SYM_PEER_BAD_HEADER, VPN_SYM_PEER_RESETS, VPN_SYM_MISC_NSTATS
};

/* Names as in 2.0 where the meaning is the same; ro_writes is the device's RO_WRITES register. */
static const char vpn_sym_stat_names[][ETH_GSTRING_LEN] = {
	"rx_packets", "rx_bytes", "rx_drop_nomem", "rx_bad_len", "rx_bad_hdr", "rx_doorbells",
	"tx_packets", "tx_bytes", "tx_drop_too_big", "tx_drop_no_ring", "tx_drop_offload",
	"tx_ring_full", "tx_doorbells",
	"config_irqs", "tx_irqs", "rx_irqs", "ring_starts", "ring_errors", "peer_bad_header",
	"peer_resets",
	"ro_writes",
};

static_assert(ARRAY_SIZE(vpn_sym_stat_names) ==
	      VPN_SYM_RX_NSTATS + VPN_SYM_TX_NSTATS + VPN_SYM_MISC_NSTATS + 1);
static_assert(VPN_SYM_RX_NSTATS <= 8 && VPN_SYM_TX_NSTATS <= 8);
static_assert(VPN_SYM_RX_PACKETS == VPN_STAT_PACKETS && VPN_SYM_RX_BYTES == VPN_STAT_BYTES);
static_assert(VPN_SYM_TX_PACKETS == VPN_STAT_PACKETS && VPN_SYM_TX_BYTES == VPN_STAT_BYTES);

/* The peer's geometry, as read from its header. */
struct vpn_sym_geom {
	u32 ring, slot, buf_offset, features;
};

struct vpn_sym {
	struct vpn_common common;	/* first: see vpn.h (pdev, napi, removing, irq_ok) */
	struct net_device *dev;
	void __iomem *regs;
	void __iomem *db_data;		/* our data doorbell: raises the peer's vector 2 */
	void __iomem *db_space;		/* our space doorbell: raises the peer's vector 1 */
	u8 *shm;			/* memremap(WB) of both sections */
	u64 shm_base;
	u32 section_size;
	u8 side;

	/* Our section; its geometry is fixed at probe. */
	struct vpn_sym_hdr *own;
	struct vpn_sym_entry *own_ring;
	u8 *own_buf;
	u32 ring_size, slot_size, buf_offset;
	bool tso;

	/* The peer's section (never written) and its geometry as validated when the link started. */
	const struct vpn_sym_hdr *peer;
	const struct vpn_sym_entry *peer_ring;
	const u8 *peer_buf;
	u32 peer_ring_size, peer_slot_size;
	u32 peer_features;		/* also read by ndo_fix_features (RTNL) */

	/* Link: changed by the config work under RTNL, with NAPI disabled and the tx lock held. */
	enum vpn_sym_state state;
	bool run;			/* the data paths may use the sections */
	bool own_ready;			/* our header says ready */
	u32 gen;			/* PEER_GENERATION of the current peer section */
	u32 rx_batch;			/* publish rx_cons every this many entries */
	bool logged_header, logged_hold;
	unsigned long wait_kick_at;	/* jiffies: the next data kick in WAIT that looks */

	/* Transmit (netif tx lock). */
	u32 tx_prod;			/* our tx_prod */
	u32 tx_cons;			/* the peer's rx_cons, last validated value */
	bool tx_kick_armed;		/* our tx_wants_kick is 1 */
	bool tx_unkicked;		/* tx_prod published, rx_wants_kick not yet looked at */
	u8 tx_err;

	/* Receive (NAPI). */
	u32 rx_cons;			/* our rx_cons */
	u32 rx_prod;			/* the peer's tx_prod, last validated value */
	u32 rx_published;		/* rx_cons as last written to our header */
	bool rx_kick_armed;		/* our rx_wants_kick is 1 */
	u8 rx_err;

	struct delayed_work config_work;

	struct vpn_ctx_stats rx_stats;
	struct vpn_ctx_stats tx_stats;
	atomic64_t misc[VPN_SYM_MISC_NSTATS];
};

static_assert(offsetof(struct vpn_sym, common) == 0);

static const __le32 vpn_sym_one = cpu_to_le32(1);

/* ---- geometry ---- */

static u32 vpn_sym_buf_offset(u32 ring)
{
	return ALIGN(VPN_SYM_RING_OFF + ring * (u32)sizeof(struct vpn_sym_entry), VPN_SYM_BUF_ALIGN);
}

/* The largest slot (multiple of 64, at most 64 KiB) that ring entries leave room for; 0: none. */
static u32 vpn_sym_max_slot(u32 section, u32 ring)
{
	u32 off = vpn_sym_buf_offset(ring);

	if (off >= section)
		return 0;
	return min_t(u32, VPN_SYM_SLOT_MAX, ALIGN_DOWN((section - off) / ring, VPN_SYM_SLOT_ALIGN));
}

/* Our ring: see the comment at the top. */
static int vpn_sym_choose_geometry(struct vpn_sym *p)
{
	u32 ring;

	for (ring = VPN_SYM_RING_MAX; ring > VPN_SYM_RING_MIN; ring /= 2)
		if (vpn_sym_max_slot(p->section_size, ring) >= VPN_SYM_SLOT_TSO)
			break;
	p->ring_size = ring;
	p->slot_size = vpn_sym_max_slot(p->section_size, ring);
	p->buf_offset = vpn_sym_buf_offset(ring);
	if (p->slot_size < VPN_SYM_SLOT_MIN)
		return -EINVAL;
	p->tso = p->slot_size >= VPN_SYM_TSO_MIN_SLOT;
	return 0;
}

/* Read and check the peer's header (§9.3). NULL if usable, else what is wrong. */
static const char *vpn_sym_peer_geometry(const struct vpn_sym *p, struct vpn_sym_geom *g)
{
	const struct vpn_sym_hdr *h = p->peer;
	u32 magic = le32_to_cpu(READ_ONCE(h->magic));
	u32 version = le32_to_cpu(READ_ONCE(h->version));

	g->ring = le32_to_cpu(READ_ONCE(h->ring_size));
	g->slot = le32_to_cpu(READ_ONCE(h->slot_size));
	g->buf_offset = le32_to_cpu(READ_ONCE(h->buf_offset));
	g->features = le32_to_cpu(READ_ONCE(h->features));

	if (magic != VPN_SYM_SECTION_MAGIC)
		return "magic";
	if (version >> 16 != VPN_VERSION_MAJOR || (version & 0xffff) < VPN_SYM_MINOR)
		return "version";
	if (g->ring < VPN_SYM_RING_MIN || g->ring > VPN_SYM_RING_MAX || !is_power_of_2(g->ring))
		return "ring_size";
	if (g->slot < VPN_SYM_SLOT_MIN || g->slot > VPN_SYM_SLOT_MAX || g->slot % VPN_SYM_SLOT_ALIGN)
		return "slot_size";
	/* The ring (which ends at or before section_size, ring <= 4096) lies before the buffers. */
	if (g->buf_offset % VPN_SYM_BUF_ALIGN ||
	    g->buf_offset < VPN_SYM_RING_OFF + g->ring * (u32)sizeof(struct vpn_sym_entry))
		return "buf_offset";
	if ((u64)g->buf_offset + (u64)g->ring * g->slot > p->section_size)
		return "buf_offset + ring_size x slot_size";
	return NULL;
}

/* ---- link helpers ---- */

/*
 * A data path met an impossible index. True if that is the peer going away or restarting rather
 * than a ring error: its ready is no longer 1 (a reset clears ready before the indices; a missing
 * section reads all-ones), or the device moved to another peer or to DOWN.
 */
static bool vpn_sym_peer_changed(struct vpn_sym *p)
{
	virt_rmb();	/* pairs with the peer's write barrier between clearing ready and its indices */
	if (READ_ONCE(p->peer->ready) != vpn_sym_one)
		return true;
	return ioread32(p->regs + VPN_REG_LINK_STATE) != VPN_LINK_UP ||
	       ioread32(p->regs + VPN_REG_PEER_GENERATION) != p->gen;
}

/*
 * Our side back to "not ready, nothing sent or received" (§9.6): ready 0 first, so a peer that
 * sees an index go back also sees that we restarted. The data paths must be quiesced.
 */
static void vpn_sym_reset(struct vpn_sym *p)
{
	struct vpn_sym_hdr *h = p->own;

	WRITE_ONCE(h->ready, 0);
	virt_wmb();
	WRITE_ONCE(h->tx_prod, 0);
	WRITE_ONCE(h->rx_cons, 0);
	WRITE_ONCE(h->rx_wants_kick, 0);
	WRITE_ONCE(h->tx_wants_kick, 0);
	WRITE_ONCE(h->magic, cpu_to_le32(VPN_SYM_SECTION_MAGIC));
	WRITE_ONCE(h->version, cpu_to_le32(VPN_SYM_VERSION));
	WRITE_ONCE(h->ring_size, cpu_to_le32(p->ring_size));
	WRITE_ONCE(h->slot_size, cpu_to_le32(p->slot_size));
	WRITE_ONCE(h->buf_offset, cpu_to_le32(p->buf_offset));
	WRITE_ONCE(h->features, cpu_to_le32(VPN_SYM_OWN_FEATURES));
	virt_wmb();

	p->own_ready = false;
	WRITE_ONCE(p->run, false);
	p->tx_prod = 0;
	p->tx_cons = 0;
	p->tx_kick_armed = false;
	p->tx_unkicked = false;
	WRITE_ONCE(p->tx_err, VPN_SYM_OK);
	p->rx_cons = 0;
	p->rx_prod = 0;
	p->rx_published = 0;
	p->rx_kick_armed = false;
	WRITE_ONCE(p->rx_err, VPN_SYM_OK);
}

/* Stop both data paths (config work, RTNL held). */
static void vpn_sym_quiesce(struct vpn_sym *p)
{
	if (netif_running(p->dev))
		napi_disable(&p->common.napi);
	netif_tx_lock_bh(p->dev);
}

static void vpn_sym_resume(struct vpn_sym *p)
{
	struct net_device *dev = p->dev;

	netif_tx_unlock_bh(dev);
	if (!netif_running(dev))
		return;
	napi_enable(&p->common.napi);
	if (p->run) {
		napi_schedule(&p->common.napi);
		netif_wake_queue(dev);
	} else {
		netif_stop_queue(dev);
	}
}

/* ---- transmit: our section ---- */

static u32 vpn_sym_tx_free(const struct vpn_sym *p)
{
	return p->ring_size - (p->tx_prod - p->tx_cons);
}

static void vpn_sym_tx_error(struct vpn_sym *p, u32 c)
{
	if (vpn_sym_peer_changed(p)) {
		WRITE_ONCE(p->tx_err, VPN_SYM_STALL);
	} else {
		WRITE_ONCE(p->tx_err, VPN_SYM_RING_ERROR);
		atomic64_inc(&p->misc[VPN_SYM_RING_ERRORS]);
		netdev_err(p->dev, "peer's rx_cons %u outside [%u, %u]; transmit stopped until the peer's next section\n",
			   c, p->tx_cons, p->tx_prod);
	}
	netif_stop_queue(p->dev);
	mod_delayed_work(system_wq, &p->config_work, 0);
}

/* §9.4 send 1-2: take the peer's rx_cons. False on an impossible value (handled). */
static bool vpn_sym_tx_reap(struct vpn_sym *p)
{
	/* Acquire: the peer's reads of our slots happened before it published rx_cons. */
	u32 c = le32_to_cpu(virt_load_acquire(&p->peer->rx_cons));

	if (unlikely(c - p->tx_cons > p->tx_prod - p->tx_cons)) {
		vpn_sym_tx_error(p, c);
		return false;
	}
	p->tx_cons = c;
	return true;
}

/*
 * §9.4 send 3. If the ring is full: stop the queue, set tx_wants_kick, look again. True if it is
 * still full (queue stopped; the peer's space kick or the re-check wakes it), or on an error.
 */
static bool vpn_sym_tx_full(struct vpn_sym *p)
{
	if (vpn_sym_tx_free(p))
		return false;
	if (!vpn_sym_tx_reap(p))
		return true;
	if (vpn_sym_tx_free(p))
		return false;
	netif_stop_queue(p->dev);
	vpn_stat_inc(&p->tx_stats, VPN_SYM_TX_RING_FULL);
	WRITE_ONCE(p->own->tx_wants_kick, vpn_sym_one);
	p->tx_kick_armed = true;
	virt_mb();	/* tx_wants_kick visible before we look at rx_cons again (no lost kick) */
	if (!vpn_sym_tx_reap(p))
		return true;
	if (!vpn_sym_tx_free(p))
		return true;
	netif_start_queue(p->dev);
	return false;
}

/* §9.4 send 6: a data kick if the peer sleeps on receive. */
static void vpn_sym_tx_kick(struct vpn_sym *p)
{
	if (!p->tx_unkicked)
		return;
	p->tx_unkicked = false;
	virt_mb();	/* tx_prod visible before we read rx_wants_kick (pairs with the peer's poll) */
	if (READ_ONCE(p->peer->rx_wants_kick) == vpn_sym_one) {
		iowrite32(0, p->db_data);
		vpn_stat_inc(&p->tx_stats, VPN_SYM_TX_DOORBELLS);
	}
}

static netdev_tx_t vpn_sym_start_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct vpn_sym *p = netdev_priv(dev);
	struct virtio_net_hdr_mrg_rxbuf vh = {};
	struct vpn_sym_entry *e;
	unsigned int len = skb->len;
	netdev_tx_t ret = NETDEV_TX_OK;
	u32 i;

	if (unlikely(!p->run || p->tx_err)) {
		vpn_stat_inc(&p->tx_stats, VPN_SYM_TX_NO_RING);
		dev_kfree_skb_any(skb);
		return NETDEV_TX_OK;
	}
	if (p->tx_kick_armed) {
		/* We run again: no space kicks needed until the ring fills up next time. */
		WRITE_ONCE(p->own->tx_wants_kick, 0);
		p->tx_kick_armed = false;
	}
	if (unlikely(len > p->slot_size)) {
		vpn_stat_inc(&p->tx_stats, VPN_SYM_TX_TOO_BIG);
		dev_kfree_skb_any(skb);
		goto out;
	}
	if (unlikely(vpn_sym_tx_full(p))) {
		/* Only after a spurious wake: the queue stops as soon as the ring fills (below). */
		if (p->tx_err) {
			vpn_stat_inc(&p->tx_stats, VPN_SYM_TX_NO_RING);
			dev_kfree_skb_any(skb);
		} else {
			ret = NETDEV_TX_BUSY;
		}
		goto out;
	}
	/* The entry's virtio_net_hdr (§9.3), offloads as the peer accepts them. */
	if (vpn_tx_offload_hdr(skb, &vh.hdr, p->peer_features, VPN_SYM_F_CSUM, false)) {
		vpn_stat_inc(&p->tx_stats, VPN_SYM_TX_OFFLOAD);
		dev_kfree_skb_any(skb);
		goto out;
	}
	vh.num_buffers = cpu_to_le16(1);

	/* §9.4 send 4-5: the frame into the slot, the entry, then (write barrier) tx_prod. */
	i = p->tx_prod & (p->ring_size - 1);
	skb_copy_bits(skb, 0, p->own_buf + (size_t)i * p->slot_size, len);	/* cannot fail */
	e = &p->own_ring[i];
	WRITE_ONCE(e->len, cpu_to_le32(len));
	memcpy(e->hdr, &vh, sizeof(vh));
	virt_wmb();
	p->tx_prod++;
	WRITE_ONCE(p->own->tx_prod, cpu_to_le32(p->tx_prod));
	p->tx_unkicked = true;

	vpn_stat_packet(&p->tx_stats, len);
	skb_tx_timestamp(skb);
	dev_consume_skb_any(skb);

	/* Stop as soon as the ring is full, so the next packet does not bounce. */
	vpn_sym_tx_full(p);
out:
	if (!netdev_xmit_more() || netif_queue_stopped(dev))
		vpn_sym_tx_kick(p);
	return ret;
}

/* ---- receive: the peer's section ---- */

static void vpn_sym_rx_error(struct vpn_sym *p, u32 prod)
{
	if (vpn_sym_peer_changed(p)) {
		WRITE_ONCE(p->rx_err, VPN_SYM_STALL);
	} else {
		WRITE_ONCE(p->rx_err, VPN_SYM_RING_ERROR);
		atomic64_inc(&p->misc[VPN_SYM_RING_ERRORS]);
		netdev_err(p->dev, "peer's tx_prod %u with our rx_cons %u and its ring_size %u; receive stopped until the peer's next section\n",
			   prod, p->rx_cons, p->peer_ring_size);
	}
	mod_delayed_work(system_wq, &p->config_work, 0);
}

/* §9.4 receive 1: take the peer's tx_prod. False on an impossible value (handled). */
static bool vpn_sym_rx_refresh(struct vpn_sym *p)
{
	u32 prod = le32_to_cpu(READ_ONCE(p->peer->tx_prod));

	if (unlikely(prod - p->rx_cons > p->peer_ring_size)) {
		vpn_sym_rx_error(p, prod);
		return false;
	}
	virt_rmb();	/* entries and slots after the index */
	p->rx_prod = prod;
	return true;
}

/* §9.4 receive 3-4: publish rx_cons, then a space kick if the peer's ring is full. */
static void vpn_sym_rx_publish(struct vpn_sym *p)
{
	/* Release: we are done reading the slots before the peer may reuse them. */
	virt_store_release(&p->own->rx_cons, cpu_to_le32(p->rx_cons));
	p->rx_published = p->rx_cons;
	virt_mb();	/* rx_cons visible before we read tx_wants_kick (pairs with the sender's) */
	if (READ_ONCE(p->peer->tx_wants_kick) == vpn_sym_one) {
		iowrite32(1, p->db_space);
		vpn_stat_inc(&p->rx_stats, VPN_SYM_RX_DOORBELLS);
	}
}

/* Entry idx of the peer's ring (already below its tx_prod): deliver its frame or drop it. */
static void vpn_sym_rx_one(struct vpn_sym *p, u32 idx)
{
	u32 n = idx & (p->peer_ring_size - 1);
	const struct vpn_sym_entry *e = &p->peer_ring[n];
	union {
		struct virtio_net_hdr_mrg_rxbuf h;
		__le32 w[3];
	} vh;
	const u8 *src;
	struct sk_buff *skb;
	u32 len;
	u8 gso;

	/* Read once; only the local copies are used from here on. */
	len = le32_to_cpu(READ_ONCE(e->len));
	vh.w[0] = READ_ONCE(e->hdr[0]);
	vh.w[1] = READ_ONCE(e->hdr[1]);
	vh.w[2] = READ_ONCE(e->hdr[2]);

	/* §9.3 bounds; buf_offset + ring_size x slot_size <= section_size was checked at start. */
	if (len < ETH_HLEN || len > p->peer_slot_size) {
		vpn_stat_inc(&p->rx_stats, VPN_SYM_RX_BAD_LEN);
		return;
	}
	gso = vh.h.hdr.gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
	if (gso != VIRTIO_NET_HDR_GSO_NONE && gso != VIRTIO_NET_HDR_GSO_TCPV4 &&
	    gso != VIRTIO_NET_HDR_GSO_TCPV6) {
		vpn_stat_inc(&p->rx_stats, VPN_SYM_RX_BAD_HDR);
		return;
	}
	src = p->peer_buf + (size_t)n * p->peer_slot_size;

	/* One copy out of the peer's slot. */
	skb = vpn_rx_alloc_skb(&p->common.napi, len);
	if (!skb) {
		vpn_stat_inc(&p->rx_stats, VPN_SYM_RX_NOMEM);
		return;
	}
	if (!skb_is_nonlinear(skb)) {
		memcpy(skb->data, src, len);
	} else if (skb_store_bits(skb, 0, src, len)) {
		/* cannot happen: the skb holds exactly len bytes */
		dev_kfree_skb_any(skb);
		vpn_stat_inc(&p->rx_stats, VPN_SYM_RX_BAD_LEN);
		return;
	}

	/* Checksum and GSO offload from the header (we accept all of VPN_SYM_OWN_FEATURES). */
	if (vh.h.hdr.flags & VIRTIO_NET_HDR_F_DATA_VALID)
		skb->ip_summed = CHECKSUM_UNNECESSARY;
	vpn_rx_deliver(&p->common.napi, &p->rx_stats, VPN_SYM_RX_BAD_HDR, skb, &vh.h.hdr, len);
}

static int vpn_sym_poll(struct napi_struct *napi, int budget)
{
	struct vpn_sym *p = container_of(napi, struct vpn_sym, common.napi);
	int done = 0;

	if (!p->run || p->rx_err) {
		napi_complete_done(napi, 0);
		return 0;
	}
	if (p->rx_kick_armed) {
		/* Polling: no data kicks needed until we sleep again. */
		WRITE_ONCE(p->own->rx_wants_kick, 0);
		p->rx_kick_armed = false;
	}
	while (done < budget) {
		if (p->rx_cons == p->rx_prod &&
		    (!vpn_sym_rx_refresh(p) || p->rx_cons == p->rx_prod))
			break;
		vpn_sym_rx_one(p, p->rx_cons);
		p->rx_cons++;
		done++;
		if (p->rx_cons - p->rx_published >= p->rx_batch)
			vpn_sym_rx_publish(p);
	}
	if (p->rx_cons != p->rx_published)
		vpn_sym_rx_publish(p);
	if (!done && !p->rx_err && READ_ONCE(p->peer->ready) != vpn_sym_one) {
		/* A kick with nothing to read: the peer may have reset (it rings when it does). */
		WRITE_ONCE(p->rx_err, VPN_SYM_STALL);
		mod_delayed_work(system_wq, &p->config_work, 0);
	}

	if (done < budget && napi_complete_done(napi, done) && !p->rx_err) {
		/* §9.4 receive 5: ask for a data kick, then (full barrier) look once more. */
		WRITE_ONCE(p->own->rx_wants_kick, vpn_sym_one);
		p->rx_kick_armed = true;
		virt_mb();
		if (le32_to_cpu(READ_ONCE(p->peer->tx_prod)) != p->rx_cons)
			napi_schedule(napi);
	}
	return done;
}

/* ---- interrupts ---- */

static irqreturn_t vpn_sym_irq_config(int irq, void *data)
{
	struct vpn_sym *p = data;

	atomic64_inc(&p->misc[VPN_SYM_CONFIG_IRQS]);
	mod_delayed_work(system_wq, &p->config_work, 0);
	return IRQ_HANDLED;
}

static irqreturn_t vpn_sym_irq_space(int irq, void *data)
{
	struct vpn_sym *p = data;

	atomic64_inc(&p->misc[VPN_SYM_TX_IRQS]);
	if (READ_ONCE(p->common.removing))
		return IRQ_HANDLED;
	/* xmit re-checks the ring under the tx lock; a spurious wake only costs one retry. */
	if (READ_ONCE(p->run) && !READ_ONCE(p->tx_err) && netif_queue_stopped(p->dev))
		netif_wake_queue(p->dev);
	return IRQ_HANDLED;
}

static irqreturn_t vpn_sym_irq_data(int irq, void *data)
{
	struct vpn_sym *p = data;

	atomic64_inc(&p->misc[VPN_SYM_RX_IRQS]);
	if (READ_ONCE(p->run))
		napi_schedule(&p->common.napi);
	else if (READ_ONCE(p->state) == VPN_SYM_WAIT &&
		 time_after_eq(jiffies, READ_ONCE(p->wait_kick_at))) {
		/* The peer may be ready now. A peer that rings on and on gets a look per gap. */
		WRITE_ONCE(p->wait_kick_at, jiffies + VPN_SYM_KICK_GAP);
		mod_delayed_work(system_wq, &p->config_work, 0);
	}
	return IRQ_HANDLED;
}

/* ---- link management ---- */

static const char * const vpn_sym_state_names[] = {
	[VPN_SYM_DOWN] = "down", [VPN_SYM_WAIT] = "waiting for the peer's ready",
	[VPN_SYM_RUN] = "up", [VPN_SYM_BROKEN] = "stopped by a ring error until the peer's next section",
};

/* Reset our side and enter state s (config work). */
static void vpn_sym_enter(struct vpn_sym *p, enum vpn_sym_state s)
{
	vpn_sym_quiesce(p);
	vpn_sym_reset(p);
	WRITE_ONCE(p->state, s);
	vpn_sym_resume(p);
}

/* WAIT (§9.6 coming up): set our ready, and start once the peer's is set too. */
static void vpn_sym_try_start(struct vpn_sym *p)
{
	const struct vpn_sym_hdr *h = p->peer;
	bool peer_ready = READ_ONCE(h->ready) == vpn_sym_one;
	struct vpn_sym_geom g;
	bool features_changed;
	const char *bad;
	u32 ptx, prx;

	if (!p->own_ready) {
		ptx = le32_to_cpu(READ_ONCE(h->tx_prod));
		prx = le32_to_cpu(READ_ONCE(h->rx_cons));
		if (peer_ready && (ptx || prx)) {
			/*
			 * The peer still runs on our ring from before our reset. Keep ready 0 until
			 * it sees that and restarts, so neither side starts against stale indices.
			 */
			if (!p->logged_hold && net_ratelimit())
				netdev_info(p->dev, "peer still has tx_prod %u rx_cons %u from before; waiting for it to restart\n",
					    ptx, prx);
			p->logged_hold = true;
			return;
		}
		virt_wmb();	/* our header and zeroed indices before ready */
		WRITE_ONCE(p->own->ready, vpn_sym_one);
		p->own_ready = true;
		iowrite32(0, p->db_data);	/* the peer polls our ready: make it look now */
	}
	if (!peer_ready)
		return;

	virt_rmb();	/* the peer's header after its ready */
	bad = vpn_sym_peer_geometry(p, &g);
	if (bad) {
		if (!p->logged_header) {
			atomic64_inc(&p->misc[VPN_SYM_PEER_BAD_HEADER]);
			netdev_err(p->dev, "peer's section header: bad %s (ring_size %u slot_size %u buf_offset %#x); link kept down\n",
				   bad, g.ring, g.slot, g.buf_offset);
		}
		p->logged_header = true;
		return;
	}
	/* A fresh start: the peer consumed nothing of ours, published at most one ring. */
	ptx = le32_to_cpu(READ_ONCE(h->tx_prod));
	prx = le32_to_cpu(READ_ONCE(h->rx_cons));
	if (prx || ptx > g.ring)
		return;

	features_changed = g.features != p->peer_features;
	vpn_sym_quiesce(p);
	p->peer_features = g.features;
	p->peer_ring = (const struct vpn_sym_entry *)((const u8 *)h + VPN_SYM_RING_OFF);
	p->peer_buf = (const u8 *)h + g.buf_offset;
	p->peer_ring_size = g.ring;
	p->peer_slot_size = g.slot;
	p->rx_batch = min_t(u32, g.ring / 4, VPN_SYM_RX_PUBLISH_MAX);
	/* Receive starts asleep: a data kick (or the first poll from resume) wakes it. */
	WRITE_ONCE(p->own->rx_wants_kick, vpn_sym_one);
	p->rx_kick_armed = true;
	WRITE_ONCE(p->run, true);
	WRITE_ONCE(p->state, VPN_SYM_RUN);
	vpn_sym_resume(p);
	atomic64_inc(&p->misc[VPN_SYM_RING_STARTS]);
	if (net_ratelimit())
		netdev_info(p->dev, "link up (generation %u): peer ring_size %u slot_size %u features %#x\n",
			    p->gen, g.ring, g.slot, g.features);
	if (features_changed)
		netdev_update_features(p->dev);	/* the offloads follow the peer's header */
}

static void vpn_sym_config_work(struct work_struct *work)
{
	struct vpn_sym *p = container_of(to_delayed_work(work), struct vpn_sym, config_work);
	enum vpn_sym_state old;
	u32 link, gen;

	rtnl_lock();
	if (p->common.removing)
		goto out;
	old = p->state;
	link = ioread32(p->regs + VPN_REG_LINK_STATE);
	gen = ioread32(p->regs + VPN_REG_PEER_GENERATION);

	if (link != VPN_LINK_UP) {
		/* §9.6 going down: the peer's section is gone; never touch it now. */
		if (p->state != VPN_SYM_DOWN)
			vpn_sym_enter(p, VPN_SYM_DOWN);
	} else if (p->state == VPN_SYM_DOWN || gen != p->gen) {
		/* A new peer section (§9.6 coming up): start from 0. */
		p->gen = gen;
		p->logged_header = false;
		p->logged_hold = false;
		vpn_sym_enter(p, VPN_SYM_WAIT);
	} else if (p->state == VPN_SYM_RUN) {
		/* The data paths set these without the config work's locks. */
		u8 rx_err = READ_ONCE(p->rx_err), tx_err = READ_ONCE(p->tx_err);

		if (rx_err == VPN_SYM_RING_ERROR || tx_err == VPN_SYM_RING_ERROR) {
			vpn_sym_enter(p, VPN_SYM_BROKEN);
		} else if (rx_err || tx_err || READ_ONCE(p->peer->ready) != vpn_sym_one) {
			/* The peer's driver reset (or went): restart our side and wait for it. */
			atomic64_inc(&p->misc[VPN_SYM_PEER_RESETS]);
			p->logged_hold = false;
			vpn_sym_enter(p, VPN_SYM_WAIT);
		}
	}
	if (p->state == VPN_SYM_WAIT)
		vpn_sym_try_start(p);

	if (p->state == VPN_SYM_RUN)
		netif_carrier_on(p->dev);
	else
		netif_carrier_off(p->dev);
	if (p->state != old && p->state != VPN_SYM_RUN && net_ratelimit())	/* try_start logs RUN */
		netdev_info(p->dev, "link %s\n", vpn_sym_state_names[p->state]);

	/* The peer may set or clear ready with no interrupt reaching us: poll while it matters. */
	if (p->state == VPN_SYM_WAIT)
		schedule_delayed_work(&p->config_work, VPN_SYM_WAIT_POLL);
	else if (p->state == VPN_SYM_RUN)
		schedule_delayed_work(&p->config_work, VPN_SYM_RUN_POLL);
out:
	rtnl_unlock();
}

/* ---- net_device ---- */

static int vpn_sym_open(struct net_device *dev)
{
	struct vpn_sym *p = netdev_priv(dev);

	return vpn_common_open(dev, p->run && !p->tx_err);
}

static void vpn_sym_get_stats64(struct net_device *dev, struct rtnl_link_stats64 *s)
{
	struct vpn_sym *p = netdev_priv(dev);
	u64 rx[VPN_SYM_RX_NSTATS], tx[VPN_SYM_TX_NSTATS];

	vpn_stats_read(&p->rx_stats, rx, VPN_SYM_RX_NSTATS);
	vpn_stats_read(&p->tx_stats, tx, VPN_SYM_TX_NSTATS);
	s->rx_packets = rx[VPN_SYM_RX_PACKETS];
	s->rx_bytes = rx[VPN_SYM_RX_BYTES];
	s->rx_dropped = rx[VPN_SYM_RX_NOMEM];
	s->rx_length_errors = rx[VPN_SYM_RX_BAD_LEN];
	s->rx_frame_errors = rx[VPN_SYM_RX_BAD_HDR];
	s->rx_errors = rx[VPN_SYM_RX_BAD_LEN] + rx[VPN_SYM_RX_BAD_HDR];
	s->tx_packets = tx[VPN_SYM_TX_PACKETS];
	s->tx_bytes = tx[VPN_SYM_TX_BYTES];
	s->tx_dropped = tx[VPN_SYM_TX_TOO_BIG] + tx[VPN_SYM_TX_NO_RING] + tx[VPN_SYM_TX_OFFLOAD];
}

/* Offer the stack only what our slots hold and the peer's header accepts. */
static netdev_features_t vpn_sym_fix_features(struct net_device *dev, netdev_features_t f)
{
	struct vpn_sym *p = netdev_priv(dev);

	if (!p->tso)
		f &= ~(NETIF_F_TSO | NETIF_F_TSO6 | NETIF_F_TSO_ECN);
	return vpn_offload_features(f, p->peer_features, VPN_SYM_F_CSUM);
}

/* A GSO skb larger than a slot (a forwarded GRO packet) is segmented by the stack. */
static netdev_features_t vpn_sym_features_check(struct sk_buff *skb, struct net_device *dev,
						netdev_features_t features)
{
	struct vpn_sym *p = netdev_priv(dev);

	if (skb_is_gso(skb) && skb->len > p->slot_size)
		features &= ~NETIF_F_GSO_MASK;
	return vlan_features_check(skb, features);
}

static const struct net_device_ops vpn_sym_netdev_ops = {
	.ndo_fix_features	= vpn_sym_fix_features,
	.ndo_features_check	= vpn_sym_features_check,
	.ndo_open		= vpn_sym_open,
	.ndo_stop		= vpn_common_stop,
	.ndo_start_xmit		= vpn_sym_start_xmit,
	.ndo_get_stats64	= vpn_sym_get_stats64,
	.ndo_set_mac_address	= eth_mac_addr,
	.ndo_validate_addr	= eth_validate_addr,
};

/* ethtool -S (vpn_ethtool_ops in vpn_common.c): the order of vpn_sym_stat_names. */
static void vpn_sym_get_ethtool_stats(struct net_device *dev, u64 *data)
{
	struct vpn_sym *p = netdev_priv(dev);

	data = vpn_read_counters(data, &p->rx_stats, VPN_SYM_RX_NSTATS, &p->tx_stats,
				 VPN_SYM_TX_NSTATS, p->misc, VPN_SYM_MISC_NSTATS);
	*data = ioread32(p->regs + VPN_REG_RO_WRITES);
}

static const struct vpn_mode_info vpn_sym_info = {
	.version	= VPN_SYM_DRV_VERSION,
	.stat_names	= vpn_sym_stat_names,
	.nstats		= ARRAY_SIZE(vpn_sym_stat_names),
	.get_stats	= vpn_sym_get_ethtool_stats,
};

/* ---- PCI ---- */

static const irq_handler_t vpn_sym_handlers[VPN_NUM_VEC] = {
	vpn_sym_irq_config, vpn_sym_irq_space, vpn_sym_irq_data
};

/* The kind-0x02 capability (§9.2). */
static int vpn_sym_read_cap(struct vpn_sym *p, u8 cap, u32 *db_offset, u32 *db_stride)
{
	struct pci_dev *pdev = p->common.pdev;
	u8 len, bar;
	u16 version;
	u32 lo, hi;

	pci_read_config_byte(pdev, cap + VPN_SYM_CAP_LEN_OFF, &len);
	pci_read_config_byte(pdev, cap + VPN_SYM_CAP_BAR, &bar);
	pci_read_config_byte(pdev, cap + VPN_SYM_CAP_SIDE, &p->side);
	pci_read_config_word(pdev, cap + VPN_SYM_CAP_VERSION, &version);
	pci_read_config_dword(pdev, cap + VPN_SYM_CAP_SHM_BASE, &lo);
	pci_read_config_dword(pdev, cap + VPN_SYM_CAP_SHM_BASE + 4, &hi);
	pci_read_config_dword(pdev, cap + VPN_SYM_CAP_SECTION, &p->section_size);
	pci_read_config_dword(pdev, cap + VPN_SYM_CAP_DB_OFFSET, db_offset);
	pci_read_config_dword(pdev, cap + VPN_SYM_CAP_DB_STRIDE, db_stride);
	p->shm_base = (u64)hi << 32 | lo;

	if (len < VPN_SYM_CAP_LEN || bar != 0 || version >> 8 != VPN_SYM_CAP_VER_MAJOR ||
	    (version & 0xff) < VPN_SYM_MINOR) {
		dev_err(&pdev->dev, "symmetric capability: cap_len %u regs_bar %u version %#x unusable\n",
			len, bar, version);
		return -ENODEV;
	}
	if (p->section_size < VPN_SYM_SECTION_MIN || p->section_size > VPN_SYM_SECTION_MAX ||
	    !is_power_of_2(p->section_size) || !p->shm_base || !PAGE_ALIGNED(p->shm_base) ||
	    p->shm_base > U64_MAX - 2 * (u64)p->section_size) {
		dev_err(&pdev->dev, "symmetric capability: shm_base %#llx section_size %#x unusable\n",
			p->shm_base, p->section_size);
		return -ENODEV;
	}
	if (*db_offset % 4 || *db_stride < 4 || *db_stride % 4 || *db_stride > 0x1000) {
		dev_err(&pdev->dev, "symmetric capability: doorbell offset %#x stride %u unusable\n",
			*db_offset, *db_stride);
		return -ENODEV;
	}
	return 0;
}

/* BAR 0's registers (checked: magic, 2.1, queues, vectors), the doorbells and both sections,
 * mapped, with the ring geometry chosen. On failure nothing stays mapped. */
static int vpn_sym_map(struct pci_dev *pdev, struct vpn_sym *p, u32 db_offset, u32 db_stride, u32 *version)
{
	u32 magic, maxq, nvec;
	int err;

	if (!(pci_resource_flags(pdev, 0) & IORESOURCE_MEM) ||
	    pci_resource_len(pdev, 0) < (u64)db_offset + db_stride + 4) {
		dev_err(&pdev->dev, "unexpected BAR0 (%llu bytes, doorbells at %#x)\n",
			(u64)pci_resource_len(pdev, 0), db_offset);
		return -ENODEV;
	}
	p->regs = vpn_map_regs(pdev, &magic, version, &maxq, &nvec);
	if (!p->regs)
		return -ENOMEM;
	if (magic != VPN_MAGIC || *version >> 16 != VPN_VERSION_MAJOR ||
	    (*version & 0xffff) < VPN_SYM_MINOR || maxq < 2 || nvec < VPN_NUM_VEC) {
		dev_err(&pdev->dev, "not a vhost-pci-net 2.1 device (magic %#x version %#x MAX_QUEUES %u NUM_VECTORS %u)\n",
			magic, *version, maxq, nvec);
		err = -ENODEV;
		goto err_unmap0;
	}
	p->db_data = p->regs + db_offset;
	p->db_space = p->regs + db_offset + db_stride;

	/*
	 * Both sections are guest RAM on the host side (memslots): write-back, one mapping. Not
	 * claimed with request_mem_region: the range is no PCI resource and tests read it by
	 * /dev/mem.
	 */
	p->shm = memremap(p->shm_base, 2 * (size_t)p->section_size, MEMREMAP_WB);
	if (!p->shm) {
		dev_err(&pdev->dev, "cannot map the sections at %#llx (2 x %u KiB)\n", p->shm_base,
			p->section_size >> 10);
		err = -ENOMEM;
		goto err_unmap0;
	}
	err = vpn_sym_choose_geometry(p);
	if (err) {
		dev_err(&pdev->dev, "section of %u bytes too small for a ring\n", p->section_size);
		goto err_unmap_shm;
	}
	return 0;

err_unmap_shm:
	memunmap(p->shm);
err_unmap0:
	pci_iounmap(pdev, p->regs);
	return err;
}

int vpn_sym_probe(struct pci_dev *pdev, u8 cap)
{
	struct net_device *dev;
	struct vpn_sym *p;
	u32 version, db_offset, db_stride;
	netdev_features_t hw;
	int err;

	dev = vpn_alloc_netdev(pdev, sizeof(*p), VPN_MODE_SYM, &vpn_sym_info);
	if (!dev)
		return -ENOMEM;
	p = netdev_priv(dev);
	p->dev = dev;

	err = vpn_sym_read_cap(p, cap, &db_offset, &db_stride);
	if (err)
		goto err_free;
	err = pci_enable_device(pdev);
	if (err)
		goto err_free;
	err = pci_request_region(pdev, 0, DRV_NAME);
	if (err)
		goto err_disable;

	err = vpn_sym_map(pdev, p, db_offset, db_stride, &version);
	if (err)
		goto err_release0;
	p->own = (struct vpn_sym_hdr *)p->shm;
	p->own_ring = (struct vpn_sym_entry *)(p->shm + VPN_SYM_RING_OFF);
	p->own_buf = p->shm + p->buf_offset;
	p->peer = (const struct vpn_sym_hdr *)(p->shm + p->section_size);

	/* Our header, not ready (ready 0 before anything else: it may hold an older driver's). */
	WRITE_ONCE(p->own->ready, 0);
	virt_wmb();
	memset(p->shm, 0, p->buf_offset);	/* header and ring: reserved fields are 0 */
	vpn_sym_reset(p);
	p->state = VPN_SYM_DOWN;

	p->wait_kick_at = jiffies;
	u64_stats_init(&p->rx_stats.syncp);
	u64_stats_init(&p->tx_stats.syncp);
	INIT_DELAYED_WORK(&p->config_work, vpn_sym_config_work);
	netif_napi_add(dev, &p->common.napi, vpn_sym_poll);

	err = vpn_alloc_vectors(pdev);
	if (err < 0)
		goto err_napi;

	/* Trimmed by vpn_sym_fix_features to what the slots hold and the peer accepts. */
	hw = NETIF_F_SG | NETIF_F_FRAGLIST | NETIF_F_HW_CSUM;
	if (p->tso) {
		hw |= NETIF_F_TSO | NETIF_F_TSO6 | NETIF_F_TSO_ECN;
		netif_set_tso_max_size(dev, p->slot_size);	/* a frame never exceeds a slot */
	}
	vpn_setup_netdev(dev, &vpn_sym_netdev_ops, hw,
			 min_t(u32, VPN_SYM_MAX_MTU, p->slot_size - ETH_HLEN - VLAN_HLEN));

	err = register_netdev(dev);
	if (err)
		goto err_vectors;

	err = vpn_request_irqs(&p->common, vpn_sym_handlers);
	if (err)
		goto err_irqs;

	iowrite32(VPN_DRIVER_OK, p->regs + VPN_REG_DRIVER_STATUS);
	/* No interrupt follows DRIVER_OK: look at the link now. */
	mod_delayed_work(system_wq, &p->config_work, 0);

	netdev_info(dev, "vhost-pci-net %u.%u at %s: mode symmetric, side %u, section %u KiB at %#llx, ring_size %u, slot_size %u, TSO %s\n",
		    version >> 16, version & 0xffff, pci_name(pdev), p->side, p->section_size >> 10,
		    p->shm_base, p->ring_size, p->slot_size, p->tso ? "on" : "off");
	return 0;

err_irqs:
	vpn_mark_removing(&p->common);
	vpn_free_irqs(&p->common);
	cancel_delayed_work_sync(&p->config_work);
	unregister_netdev(dev);
	vpn_sym_reset(p);	/* the config work may have set our ready already */
err_vectors:
	pci_free_irq_vectors(pdev);
err_napi:
	netif_napi_del(&p->common.napi);
	memunmap(p->shm);
	pci_iounmap(pdev, p->regs);
err_release0:
	pci_release_region(pdev, 0);
err_disable:
	pci_disable_device(pdev);
err_free:
	pci_set_drvdata(pdev, NULL);
	free_netdev(dev);
	return err;
}

/* The data paths are stopped for good: say so in our section and wake the peer to look. */
static void vpn_sym_leave(struct vpn_sym *p)
{
	vpn_sym_reset(p);
	iowrite32(0, p->db_data);	/* ignored by the device while no peer is wired */
}

void vpn_sym_remove(struct pci_dev *pdev)
{
	struct vpn_common *c = pci_get_drvdata(pdev);
	struct vpn_sym *p = container_of(c, struct vpn_sym, common);
	struct net_device *dev = p->dev;

	vpn_mark_removing(&p->common);	/* the config work does nothing from now on */
	unregister_netdev(dev);	/* ndo_stop: NAPI and xmit quiesced */
	vpn_sym_leave(p);
	iowrite32(0, p->regs + VPN_REG_DRIVER_STATUS);
	vpn_free_irqs(&p->common);
	cancel_delayed_work_sync(&p->config_work);
	pci_free_irq_vectors(pdev);
	netif_napi_del(&p->common.napi);
	memunmap(p->shm);
	pci_iounmap(pdev, p->regs);
	pci_release_region(pdev, 0);
	pci_disable_device(pdev);
	free_netdev(dev);
}

void vpn_sym_shutdown(struct pci_dev *pdev)
{
	struct vpn_common *c = pci_get_drvdata(pdev);
	struct vpn_sym *p = container_of(c, struct vpn_sym, common);

	/* Quiesce, then clear our ready so the peer stops reading our section. */
	vpn_shutdown_quiesce(&p->common, p->dev);
	vpn_sym_leave(p);
	iowrite32(0, p->regs + VPN_REG_DRIVER_STATUS);
}
