/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vpn_ring.h: the ring core of vhost_pci_net's 2.0 mode, in plain C. It plays the virtio-net
 * *device* on a peer's split virtqueue that lies in memory this side has mapped (BAR2 in the
 * guest, the vhost-user memory table in bench/pvp):
 *
 *   - translation of the peer's guest-physical addresses, each range inside one region;
 *   - the ring walk with every bounds check (heads, next indices, loops, indirect tables,
 *     buffer direction, avail.idx that runs ahead);
 *   - transmit: one copy of [virtio_net_hdr | frame] straight into the peer's RX buffers
 *     (mergeable buffers, num_buffers patched), completed in order;
 *   - receive: gather a chain of the peer's TX ring and copy it once out;
 *   - used-ring publication and the event-idx decisions of when to notify and when to ask for
 *     kicks.
 *
 * The kernel module (vpn_main.c) and the user-space library (BUILD.bazel: ring_core) build
 * these same files; vpn_ring_env.h holds the only difference. Nothing here allocates, sleeps,
 * logs or rings a doorbell: the caller does that from the results.
 *
 * Concurrency: one struct vpn_vq belongs to one context at a time (the kernel's tx lock or NAPI;
 * one thread in user space). The peer changes its rings at any moment: every field it controls
 * is read once, and checked before use.
 */
#ifndef VPN_RING_H
#define VPN_RING_H

#include "vpn_ring_env.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VPN_MAX_REGIONS		8
#define VPN_MAX_RING		32768	/* split ring maximum */
#define VPN_MAX_INDIRECT	1024	/* entries of one indirect table (UIO_MAXIOV, as vhost) */
#define VPN_MAX_CHAIN_DESCS	1024	/* descriptors of one chain, zero-length ones too */
#define VPN_MAX_RX_SEGS		128	/* buffers of one peer TX chain */
#define VPN_MAX_TX_HEADS	64	/* chains (mergeable buffers) for one packet */
#define VPN_MAX_RX_FRAME	(65535 + 14 + 4)	/* largest frame (GSO) from the peer */
#define VPN_ETH_HLEN		14
#define VPN_HDR_LEN		10	/* struct virtio_net_hdr */
#define VPN_HDR_MRG_LEN		12	/* struct virtio_net_hdr_mrg_rxbuf: + num_buffers */

/* The peer's memory as this side sees it: [gpa, gpa + size) is at [host, host + size). */
struct vpn_mem_region {
	u64 gpa;
	u64 size;
	u8 *host;
};

struct vpn_mem {
	u32 nregions;
	struct vpn_mem_region region[VPN_MAX_REGIONS];
};

/* Pointer for the peer's [gpa, gpa + len), or NULL unless the whole range lies in one region. */
void *vpn_translate(const struct vpn_mem *m, u64 gpa, u64 len);

/* The split ring's parts (defined in vpn_ring.c; the layout is the virtio spec's). */
struct vpn_desc;
struct vpn_avail;
struct vpn_used;

/* A contiguous piece of memory: a mapped peer buffer, a frame fragment, a destination. */
struct vpn_span {
	u8 *p;
	u32 len;
};

struct vpn_tx_head {
	u16 id;
	u32 len;
};

/* What the peer negotiated: set before vpn_vq_start, fixed while the ring runs. */
struct vpn_vq_features {
	bool event_idx;
	bool indirect;
	bool mrg;		/* transmit may spread a packet over several chains */
	u32 hdr_len;		/* VPN_HDR_LEN or VPN_HDR_MRG_LEN */
};

/* One peer vring, device side. */
struct vpn_vq {
	const struct vpn_mem *mem;
	struct vpn_vq_features f;
	bool call;			/* the peer takes notifications at all */
	bool broken;			/* the peer broke the ring itself; idle until restarted */
	bool kick_enabled;		/* we asked the peer for kicks */
	bool signalled_valid;
	bool notify_pending;		/* used published, notification not yet decided */
	bool unpublished;		/* used entries added but used.idx not yet moved */
	bool defer_publish;		/* vpn_vq_tx leaves publishing to vpn_vq_flush */
	u16 num;
	u16 last_avail;			/* next avail entry to consume */
	u16 avail_cache;		/* last avail.idx read */
	u16 used_idx;			/* shadow used.idx */
	u16 signalled_used;
	u16 bad_avail;			/* the avail.idx that broke the ring (for the caller's log) */
	u16 bad_last;			/* and last_avail when it did */
	struct vpn_desc *desc;
	struct vpn_avail *avail;
	struct vpn_used *used;
	struct vpn_tx_head tx_heads[VPN_MAX_TX_HEADS];	/* transmit scratch */
};

/*
 * Point vq at the peer's ring through mem: false unless num is a power of two up to
 * VPN_MAX_RING, each part is aligned (its address and where it is mapped) and lies inside one
 * region. On false, nothing is left to publish or announce.
 */
bool vpn_vq_map(struct vpn_vq *vq, const struct vpn_mem *mem, u16 num, u64 desc_gpa,
		u64 avail_gpa, u64 used_gpa);

/*
 * Start a mapped ring at avail index base, with the used index the peer's ring holds.
 * want_kicks: ask for kicks from the start (a receive ring) or not (a transmit ring).
 */
void vpn_vq_start(struct vpn_vq *vq, u16 base, bool call, bool want_kicks);

/* 1 and *head: the next available chain; 0: none; -1: the peer moved avail.idx impossibly. */
int vpn_vq_avail_next(struct vpn_vq *vq, u16 *head);

/* No more entries now: nothing cached and avail.idx still where we last saw it. */
bool vpn_vq_empty(const struct vpn_vq *vq);
/* The peer added entries since the last look at avail.idx (what busy polling waits for). */
bool vpn_vq_avail_moved(const struct vpn_vq *vq);

void vpn_vq_used_add(struct vpn_vq *vq, u16 id, u32 len);
/*
 * VIRTIO_F_IN_ORDER: n chains completed in ring order with length 0, the last of them last_head.
 * One used entry stands for all of them (virtio 1.1 §2.7.9); the used index moves by n.
 */
void vpn_vq_used_add_in_order(struct vpn_vq *vq, u16 last_head, u16 n);
void vpn_vq_used_publish(struct vpn_vq *vq);
/* Publish what vpn_vq_tx added under defer_publish (one used.idx store for a batch). */
void vpn_vq_flush(struct vpn_vq *vq);

/* Does the peer want a notification for what was published since the last call? */
bool vpn_vq_need_notify(struct vpn_vq *vq);

void vpn_vq_kick_disable(struct vpn_vq *vq);
/* Ask for a kick on the next avail entry; true if entries arrived meanwhile (re-check). */
bool vpn_vq_kick_enable(struct vpn_vq *vq);

/* ---- transmit: into the peer's receive buffers ---- */

enum vpn_tx_result {
	VPN_VQ_TX_DONE,	/* published */
	VPN_VQ_TX_NOBUF,	/* not enough buffers yet: nothing taken */
	VPN_VQ_TX_BAD,	/* a bad chain: every chain taken completed with length 0 */
	VPN_VQ_TX_TOOBIG,	/* no set of the peer's buffers can hold it: nothing taken */
	VPN_VQ_TX_BROKEN,	/* the ring broke (vq->broken): nothing taken */
};

/*
 * Write [hdr (f.hdr_len bytes) | the frame in src[0..nsrc)] into the peer's buffers, one copy,
 * and publish used (unless vq->defer_publish: then vpn_vq_flush does, once per batch). With VPN_HDR_MRG_LEN, num_buffers (hdr bytes 10-11) is set to the number of
 * chains used. hdr is the caller's and may be changed.
 */
enum vpn_tx_result vpn_vq_tx(struct vpn_vq *vq, u8 *hdr, const struct vpn_span *src, u32 nsrc);

/* ---- receive: out of the peer's transmit buffers ---- */

enum vpn_rx_result {
	VPN_VQ_RX_OK,
	VPN_VQ_RX_BAD_CHAIN,	/* bad descriptors, or more than VPN_MAX_RX_SEGS buffers */
	VPN_VQ_RX_BAD_LEN,		/* shorter than a header and an Ethernet header, or too long */
};

/*
 * The buffers of chain head (from vpn_vq_avail_next) into seg[0..*nseg) (room for
 * VPN_MAX_RX_SEGS), and the frame's length after the header in *frame_len. The chain stays the
 * caller's to complete (vpn_vq_used_add(vq, head, 0)) whatever the result.
 */
enum vpn_rx_result vpn_vq_rx_gather(struct vpn_vq *vq, u16 head, struct vpn_span *seg, u32 *nseg,
				    u32 *frame_len);

/*
 * Copy a gathered chain once: its first hdr_len bytes to hdr, the frame after them to the
 * destinations dst[0..ndst), which hold exactly the frame's length between them.
 */
void vpn_rx_copy(const struct vpn_span *seg, u32 nseg, u32 hdr_len, u8 *hdr,
		 const struct vpn_span *dst, u32 ndst);

#ifdef __cplusplus
}
#endif

#endif /* VPN_RING_H */
