// SPDX-License-Identifier: GPL-2.0
/*
 * vpn_ring.c: the ring core of vhost_pci_net's 2.0 mode (see vpn_ring.h). Built into the kernel
 * module and into a user-space library from this one file.
 */
#include "vpn_ring.h"

/* Split virtqueue, as the peer lays it out (virtio 1.x §2.7). */
struct vpn_desc {
	vpn_le64 addr;
	vpn_le32 len;
	vpn_le16 flags;
	vpn_le16 next;
};

struct vpn_avail {
	vpn_le16 flags;
	vpn_le16 idx;
	vpn_le16 ring[];	/* num entries, then used_event */
};

struct vpn_used_elem {
	vpn_le32 id;
	vpn_le32 len;
};

struct vpn_used {
	vpn_le16 flags;
	vpn_le16 idx;
	struct vpn_used_elem ring[];	/* num entries, then avail_event */
};

#define VPN_DESC_F_NEXT		1
#define VPN_DESC_F_WRITE	2
#define VPN_DESC_F_INDIRECT	4
#define VPN_AVAIL_F_NO_INTERRUPT	1
#define VPN_USED_F_NO_NOTIFY	1

/* No peer buffer set holds more than VPN_MAX_TX_HEADS chains of at most 4 GiB each; a bound. */
#define VPN_MAX_TX_STREAM	0x7fffffffu

_Static_assert(sizeof(struct vpn_desc) == 16, "virtio descriptor");
_Static_assert(sizeof(struct vpn_used_elem) == 8, "virtio used element");

static u32 vpn_min(u32 a, u32 b)
{
	return a < b ? a : b;
}

static bool vpn_misaligned(const void *p, unsigned long align)
{
	return (unsigned long)p & (align - 1);
}

/* virtio's vring_need_event: did new_idx pass event since old? */
static bool vpn_need_event(u16 event, u16 new_idx, u16 old)
{
	return (u16)(new_idx - event - 1) < (u16)(new_idx - old);
}

void *vpn_translate(const struct vpn_mem *m, u64 gpa, u64 len)
{
	u32 i;

	for (i = 0; i < m->nregions && i < VPN_MAX_REGIONS; i++) {
		const struct vpn_mem_region *r = &m->region[i];
		u64 off;

		if (gpa < r->gpa)
			continue;
		off = gpa - r->gpa;
		if (off >= r->size)
			continue;
		if (len > r->size - off)
			return NULL;	/* crosses the end of its region: a peer error */
		return r->host + off;
	}
	return NULL;
}

/* ---- ring state ---- */

static vpn_le16 *vpn_used_event(struct vpn_vq *vq)
{
	return &vq->avail->ring[vq->num];
}

static vpn_le16 *vpn_avail_event(struct vpn_vq *vq)
{
	return (vpn_le16 *)&vq->used->ring[vq->num];
}

bool vpn_vq_map(struct vpn_vq *vq, const struct vpn_mem *mem, u16 num, u64 desc_gpa,
		u64 avail_gpa, u64 used_gpa)
{
	u64 n = num;
	struct vpn_desc *desc;
	struct vpn_avail *avail;
	struct vpn_used *used;

	vq->mem = mem;
	vq->num = num;
	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
	/* Nothing can be published or announced on a ring we cannot reach. */
	vq->unpublished = false;
	vq->notify_pending = false;
	if (!num || num > VPN_MAX_RING || (num & (num - 1)))
		return false;
	if ((desc_gpa & 15) || (avail_gpa & 1) || (used_gpa & 3))
		return false;
	desc = vpn_translate(mem, desc_gpa, 16 * n);
	avail = vpn_translate(mem, avail_gpa, 6 + 2 * n);
	used = vpn_translate(mem, used_gpa, 6 + 8 * n);
	/* The mapping itself may be misaligned against the peer's addresses: check the pointers. */
	if (!desc || !avail || !used || vpn_misaligned(desc, 16) || vpn_misaligned(avail, 2) ||
	    vpn_misaligned(used, 4))
		return false;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	return true;
}

void vpn_vq_start(struct vpn_vq *vq, u16 base, bool call, bool want_kicks)
{
	vq->last_avail = base;
	vq->avail_cache = base;
	vq->used_idx = vpn_le16_to_cpu(VPN_READ_ONCE(vq->used->idx));
	vq->call = call;
	vq->signalled_valid = false;
	vq->notify_pending = false;
	vq->unpublished = false;
	vq->broken = false;
	vq->kick_enabled = true;
	if (want_kicks)
		vpn_vq_kick_enable(vq);
	else
		vpn_vq_kick_disable(vq);
}

int vpn_vq_avail_next(struct vpn_vq *vq, u16 *head)
{
	if (vq->last_avail == vq->avail_cache) {
		u16 a = vpn_le16_to_cpu(VPN_READ_ONCE(vq->avail->idx));

		if ((u16)(a - vq->last_avail) > vq->num) {
			vq->bad_avail = a;
			vq->bad_last = vq->last_avail;
			vq->broken = true;
			return -1;
		}
		vq->avail_cache = a;
		if (a == vq->last_avail)
			return 0;
		vpn_rmb();	/* ring entries after the index */
	}
	*head = vpn_le16_to_cpu(VPN_READ_ONCE(vq->avail->ring[vq->last_avail & (vq->num - 1)]));
	vq->last_avail++;
	return 1;
}

bool vpn_vq_avail_moved(const struct vpn_vq *vq)
{
	return vpn_le16_to_cpu(VPN_READ_ONCE(vq->avail->idx)) != vq->avail_cache;
}

bool vpn_vq_empty(const struct vpn_vq *vq)
{
	return vq->last_avail == vq->avail_cache &&
	       vpn_le16_to_cpu(VPN_READ_ONCE(vq->avail->idx)) == vq->avail_cache;
}

void vpn_vq_used_add(struct vpn_vq *vq, u16 id, u32 len)
{
	struct vpn_used_elem *e = &vq->used->ring[vq->used_idx & (vq->num - 1)];

	VPN_WRITE_ONCE(e->id, vpn_cpu_to_le32(id));
	VPN_WRITE_ONCE(e->len, vpn_cpu_to_le32(len));
	vq->used_idx++;
	vq->unpublished = true;
}

void vpn_vq_used_add_in_order(struct vpn_vq *vq, u16 last_head, u16 n)
{
	if (!n)
		return;
	vq->used_idx += n - 1;
	vpn_vq_used_add(vq, last_head, 0);
}

void vpn_vq_used_publish(struct vpn_vq *vq)
{
	vpn_wmb();	/* used entries (and buffer contents) before the index */
	VPN_WRITE_ONCE(vq->used->idx, vpn_cpu_to_le16(vq->used_idx));
	vq->notify_pending = true;
	vq->unpublished = false;
}

void vpn_vq_flush(struct vpn_vq *vq)
{
	if (vq->unpublished)
		vpn_vq_used_publish(vq);
}

bool vpn_vq_need_notify(struct vpn_vq *vq)
{
	u16 old, event;
	bool valid;

	vq->notify_pending = false;
	if (!vq->call)
		return false;
	vpn_mb();	/* used.idx visible before we read the peer's suppression state */
	if (vq->f.event_idx) {
		event = vpn_le16_to_cpu(VPN_READ_ONCE(*vpn_used_event(vq)));
		old = vq->signalled_used;
		valid = vq->signalled_valid;
		vq->signalled_used = vq->used_idx;
		vq->signalled_valid = true;
		return !valid || vpn_need_event(event, vq->used_idx, old);
	}
	return !(vpn_le16_to_cpu(VPN_READ_ONCE(vq->avail->flags)) & VPN_AVAIL_F_NO_INTERRUPT);
}

void vpn_vq_kick_disable(struct vpn_vq *vq)
{
	if (!vq->kick_enabled)
		return;
	vq->kick_enabled = false;
	/* With EVENT_IDX the stale avail_event already limits the peer to one more kick. */
	if (!vq->f.event_idx)
		VPN_WRITE_ONCE(vq->used->flags, vpn_cpu_to_le16(VPN_USED_F_NO_NOTIFY));
}

bool vpn_vq_kick_enable(struct vpn_vq *vq)
{
	if (!vq->kick_enabled) {
		vq->kick_enabled = true;
		if (!vq->f.event_idx)
			VPN_WRITE_ONCE(vq->used->flags, 0);
	}
	if (vq->f.event_idx)
		VPN_WRITE_ONCE(*vpn_avail_event(vq), vpn_cpu_to_le16(vq->avail_cache));
	vpn_mb();	/* the request visible before we look at avail.idx again */
	return vpn_le16_to_cpu(VPN_READ_ONCE(vq->avail->idx)) != vq->avail_cache;
}

/* ---- descriptor chains ---- */

struct vpn_chain {
	const struct vpn_desc *table;
	u32 count;		/* entries in table */
	u32 idx;		/* next entry */
	u32 steps;		/* entries visited in table: loop bound */
	u32 total;		/* descriptors visited in the chain, indirect or not */
	bool indirect;
	bool done;
};

static int vpn_chain_start(const struct vpn_vq *vq, u16 head, struct vpn_chain *c)
{
	if (head >= vq->num)
		return -1;
	c->table = vq->desc;
	c->count = vq->num;
	c->idx = head;
	c->steps = 0;
	c->total = 0;
	c->indirect = false;
	c->done = false;
	return 0;
}

/*
 * An indirect descriptor: only as the sole head descriptor, not nested, only if negotiated, and
 * only a table aligned for its 64-bit fields.
 */
static int vpn_chain_indirect(const struct vpn_vq *vq, struct vpn_chain *c, u64 addr, u32 len,
			      u16 flags)
{
	const void *t;

	if (!vq->f.indirect || c->indirect || c->steps != 1 || (flags & VPN_DESC_F_NEXT))
		return -1;
	if (!len || len % sizeof(struct vpn_desc) || len / sizeof(struct vpn_desc) > VPN_MAX_INDIRECT)
		return -1;
	t = vpn_translate(vq->mem, addr, len);
	if (!t || vpn_misaligned(t, 8))
		return -1;	/* outside memory, or its descriptors misaligned (drivers align tables) */
	c->table = t;
	c->count = len / sizeof(struct vpn_desc);
	c->idx = 0;
	c->steps = 0;
	c->indirect = true;
	return 0;
}

/*
 * Next buffer of a chain: 1 with *buf (NULL if *len is 0) and *len; 0 at the end of the chain;
 * -1 on a peer error. write: the buffers must be device-writable (the peer's RX ring), else
 * device-readable (its TX ring). Each descriptor is read once.
 */
static int vpn_chain_next(const struct vpn_vq *vq, struct vpn_chain *c, bool write, u8 **buf,
			  u32 *len)
{
	for (;;) {
		const struct vpn_desc *d;
		u64 addr;
		u32 dlen;
		u16 flags, next;

		if (c->done)
			return 0;
		if (c->steps++ >= c->count)
			return -1;		/* longer than the table: a loop */
		if (c->total++ > VPN_MAX_CHAIN_DESCS)
			return -1;		/* a bound on the work one chain can cause */
		d = &c->table[c->idx];
		addr = vpn_le64_to_cpu(VPN_READ_ONCE(d->addr));
		dlen = vpn_le32_to_cpu(VPN_READ_ONCE(d->len));
		flags = vpn_le16_to_cpu(VPN_READ_ONCE(d->flags));
		next = vpn_le16_to_cpu(VPN_READ_ONCE(d->next));

		if (flags & VPN_DESC_F_INDIRECT) {
			if (vpn_chain_indirect(vq, c, addr, dlen, flags))
				return -1;
			continue;
		}
		if (!!(flags & VPN_DESC_F_WRITE) != write)
			return -1;
		if (flags & VPN_DESC_F_NEXT) {
			if (next >= c->count)
				return -1;
			c->idx = next;
		} else {
			c->done = true;
		}
		*len = dlen;
		*buf = NULL;
		if (dlen) {
			*buf = vpn_translate(vq->mem, addr, dlen);
			if (!*buf)
				return -1;
		}
		return 1;
	}
}

/* ---- transmit ---- */

/* Where we are in the byte stream [hdr | src[0] | src[1] | ...]. */
struct vpn_src {
	u8 *hdr;
	u32 hdr_len;
	const struct vpn_span *span;
	u32 nspan;
	u32 off;		/* stream offset */
	u32 i, in;		/* span i, offset in it (for stream offsets past the header) */
	u8 *nb[2];		/* where stream bytes 10 and 11 (num_buffers) landed */
};

static void vpn_src_copy(struct vpn_src *s, u8 *dst, u32 n)
{
	if (s->off < s->hdr_len) {
		u32 h = vpn_min(n, s->hdr_len - s->off), k;

		memcpy(dst, s->hdr + s->off, h);
		for (k = s->off; k < s->off + h; k++)
			if (k == 10 || k == 11)
				s->nb[k - 10] = dst + (k - s->off);
		dst += h;
		s->off += h;
		n -= h;
	}
	while (n && s->i < s->nspan) {
		u32 m = vpn_min(n, s->span[s->i].len - s->in);

		memcpy(dst, s->span[s->i].p + s->in, m);
		dst += m;
		n -= m;
		s->off += m;
		s->in += m;
		if (s->in == s->span[s->i].len) {
			s->i++;
			s->in = 0;
		}
	}
}

/* Fill one chain from the stream: 0 at its end (or the stream's), -1 on a bad chain. */
static int vpn_tx_chain(struct vpn_vq *vq, u16 head, struct vpn_src *s, u32 total, u32 *written)
{
	struct vpn_chain c;
	int err = vpn_chain_start(vq, head, &c);

	*written = 0;
	while (!err && s->off < total) {
		u8 *buf;
		u32 len, n;

		err = vpn_chain_next(vq, &c, true, &buf, &len);
		if (err <= 0)
			break;
		err = 0;
		n = vpn_min(len, total - s->off);
		if (n)
			vpn_src_copy(s, buf, n);
		*written += n;
	}
	return err < 0 ? -1 : 0;
}

enum vpn_tx_result vpn_vq_tx(struct vpn_vq *vq, u8 *hdr, const struct vpn_span *src, u32 nsrc)
{
	struct vpn_src s = { .hdr = hdr, .hdr_len = vq->f.hdr_len, .span = src, .nspan = nsrc };
	u64 sum = vq->f.hdr_len;
	u32 total, maxheads, i;
	u16 start = vq->last_avail, nheads = 0;
	int err;

	for (i = 0; i < nsrc; i++)
		sum += src[i].len;
	if (sum > VPN_MAX_TX_STREAM)
		return VPN_VQ_TX_TOOBIG;
	total = (u32)sum;
	maxheads = vq->f.mrg ? vpn_min(vq->num, VPN_MAX_TX_HEADS) : 1;
	if (vq->f.hdr_len == VPN_HDR_MRG_LEN) {
		hdr[10] = 1;	/* num_buffers = 1 (le16), patched below */
		hdr[11] = 0;
	}

	while (s.off < total) {
		u16 head;
		u32 written;

		if (nheads == maxheads) {
			vq->last_avail = start;	/* the peer's buffers cannot hold it: keep them */
			return VPN_VQ_TX_TOOBIG;
		}
		err = vpn_vq_avail_next(vq, &head);
		if (err <= 0) {
			vq->last_avail = start;	/* nothing of this packet completed */
			return err < 0 ? VPN_VQ_TX_BROKEN : VPN_VQ_TX_NOBUF;
		}
		vq->tx_heads[nheads].id = head;
		err = vpn_tx_chain(vq, head, &s, total, &written);
		vq->tx_heads[nheads++].len = written;
		if (err < 0) {
			/* A bad chain: complete everything taken for this packet with length 0. */
			for (i = 0; i < nheads; i++)
				vpn_vq_used_add(vq, vq->tx_heads[i].id, 0);
			if (!vq->defer_publish)
				vpn_vq_used_publish(vq);
			return VPN_VQ_TX_BAD;
		}
	}

	if (s.nb[0] && nheads > 1) {
		*s.nb[0] = nheads & 0xff;
		if (s.nb[1])
			*s.nb[1] = nheads >> 8;
	}
	for (i = 0; i < nheads; i++)
		vpn_vq_used_add(vq, vq->tx_heads[i].id, vq->tx_heads[i].len);
	if (!vq->defer_publish)
		vpn_vq_used_publish(vq);
	return VPN_VQ_TX_DONE;
}

/* ---- receive ---- */

enum vpn_rx_result vpn_vq_rx_gather(struct vpn_vq *vq, u16 head, struct vpn_span *seg, u32 *nseg,
				    u32 *frame_len)
{
	struct vpn_chain c;
	u64 total = 0;
	int err;

	*nseg = 0;
	err = vpn_chain_start(vq, head, &c);
	while (!err) {
		u8 *buf;
		u32 blen;

		err = vpn_chain_next(vq, &c, false, &buf, &blen);
		if (err <= 0)
			break;
		err = 0;
		if (!blen)
			continue;
		if (*nseg == VPN_MAX_RX_SEGS)
			return VPN_VQ_RX_BAD_CHAIN;
		seg[*nseg].p = buf;
		seg[*nseg].len = blen;
		(*nseg)++;
		total += blen;
	}
	if (err < 0)
		return VPN_VQ_RX_BAD_CHAIN;
	if (total < vq->f.hdr_len + VPN_ETH_HLEN || total - vq->f.hdr_len > VPN_MAX_RX_FRAME)
		return VPN_VQ_RX_BAD_LEN;
	*frame_len = (u32)(total - vq->f.hdr_len);
	return VPN_VQ_RX_OK;
}

void vpn_rx_copy(const struct vpn_span *seg, u32 nseg, u32 hdr_len, u8 *hdr,
		 const struct vpn_span *dst, u32 ndst)
{
	u32 hskip = hdr_len, i, d = 0, din = 0;

	for (i = 0; i < nseg; i++) {
		const u8 *src = seg[i].p;
		u32 n = seg[i].len;

		if (hskip) {
			u32 h = vpn_min(n, hskip);

			memcpy(hdr + (hdr_len - hskip), src, h);
			hskip -= h;
			src += h;
			n -= h;
		}
		while (n && d < ndst) {
			u32 m = vpn_min(n, dst[d].len - din);

			memcpy(dst[d].p + din, src, m);
			src += m;
			n -= m;
			din += m;
			if (din == dst[d].len) {
				d++;
				din = 0;
			}
		}
	}
}
