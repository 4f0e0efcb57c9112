// SPDX-License-Identifier: GPL-2.0
/*
 * ring_scribbler: a hostile VM2 guest for tests/e2e/vhost-pci-hostile-guest.sh.
 *
 * Loaded in VM2 (stock virtio_net on a vhost-user front-end whose back-end is VM1's vhost-pci-net),
 * it takes the interface's first receive and transmit split rings away from virtio_net (the
 * interface is closed first, so the driver no longer touches them) and, for `seconds`, rewrites
 * their descriptor tables and available rings with one class of bad content after another, then
 * rings VM2's doorbells. VM1's guest driver reads those rings straight from VM2's memory: it must
 * drop and count every bad chain, write VM2's memory only where a descriptor allows it, and stay up.
 *
 * Classes (a round each, in turn; the runaway index last, because it stops VM1's rings until they
 * restart): out-of-RAM addresses, huge lengths, looping chains, bad indirect tables, heads outside
 * the ring, wrong direction flags, random bytes, then avail.idx far ahead of used.idx.
 *
 * Writable descriptors only ever point into a 128 KiB scratch buffer (VM1 may write there); a 16 KiB
 * canary that descriptors point at read-only must come through untouched. The module prints
 *   ring_scribbler: round N class NAME rx_used U tx_used U      (every class's first round)
 *   ring_scribbler: done rounds=N canary=intact|broken@OFFSET
 * and leaves itself loaded (the rings stay VM2's garbage; the guest then powers off).
 *
 *   insmod ring_scribbler.ko [ifname=eth0] [seconds=15] [round_ms=100] [settle_ms=20]
 */
#include <linux/delay.h>
#include <linux/io.h>
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/random.h>
#include <linux/rtnetlink.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/virtio.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <linux/vmalloc.h>

static char *ifname = "eth0";
module_param(ifname, charp, 0444);
MODULE_PARM_DESC(ifname, "the virtio_net interface whose rings to scribble");
static unsigned int seconds = 15;
module_param(seconds, uint, 0444);
MODULE_PARM_DESC(seconds, "how long to scribble");
static unsigned int round_ms = 100;
module_param(round_ms, uint, 0444);
MODULE_PARM_DESC(round_ms, "time between rounds (VM1 gets to read each one)");
static unsigned int settle_ms = 20;
module_param(settle_ms, uint, 0444);
MODULE_PARM_DESC(settle_ms, "pause between taking the heads back and rewriting the tables");

/* writable descriptors point into the scratch's first 32 KiB; indirect tables live in the rest,
 * which no descriptor makes writable (VM1's packets must not become descriptors) */
#define SCRATCH_SIZE (128 * 1024)
#define SCRATCH_SPAN (32 * 1024)
#define CANARY_SIZE (16 * 1024)
#define CANARY_BYTE 0x5a
#define OUT_OF_RAM 0xf000000000ULL	/* far above any test VM's memory */

enum scribble_class {
	CLASS_OUT_OF_RAM, CLASS_HUGE_LEN, CLASS_LOOP, CLASS_BAD_INDIRECT, CLASS_BAD_HEAD,
	CLASS_WRONG_DIRECTION, CLASS_RANDOM, CLASS_NORMAL_COUNT,
	CLASS_RUNAWAY = CLASS_NORMAL_COUNT,
};

static const char *const class_names[] = {
	"out-of-ram", "huge-len", "loop", "bad-indirect", "bad-head", "wrong-direction", "random",
	"runaway-index",
};

/* One split ring of VM2, reached through the kernel's direct map (virtio without
 * VIRTIO_F_ACCESS_PLATFORM gives the device guest-physical addresses). */
struct ring {
	struct virtqueue *vq;
	bool writable;			/* the receive ring: VM1 writes into its buffers */
	unsigned int num;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	struct vring_desc *shadow;	/* the next table, built here, then published */
	u16 offered;			/* the avail.idx last written: never moves back */
};

static u8 *scratch, *canary;

static u64 scratch_addr(u32 offset)
{
	return virt_to_phys(scratch) + (offset % SCRATCH_SPAN);
}

/* a buffer of `len` bytes (at most 2 KiB) inside the canary */
static u64 canary_addr(u32 offset)
{
	return virt_to_phys(canary) + (offset % (CANARY_SIZE - 2048));
}

/* a writable buffer: inside the span, its length cut to end there */
static void writable_in_span(struct vring_desc *d)
{
	u32 off = le64_to_cpu(d->addr) % SCRATCH_SPAN;

	d->addr = cpu_to_le64(virt_to_phys(scratch) + off);
	d->len = cpu_to_le32(min_t(u32, le32_to_cpu(d->len), SCRATCH_SPAN - off));
}

/* a descriptor that is legal in every way except what the class breaks */
static void good_desc(const struct ring *r, struct vring_desc *d, u32 salt)
{
	d->addr = cpu_to_le64(r->writable ? scratch_addr(salt * 64) : canary_addr(salt * 64));
	d->len = cpu_to_le32(64);
	d->flags = cpu_to_le16(r->writable ? VRING_DESC_F_WRITE : 0);
	d->next = 0;
}

/*
 * Makes random descriptors write only inside the scratch span (random content must not let VM1
 * overwrite VM2's kernel: that is VM2's own fault, not what this test is about). Indirect tables
 * go to the table area, 16-byte aligned, at most 16 KiB (what VM1 accepts, so their random
 * entries get walked); their writable entries keep to the span too. The tables hold what the bad-
 * indirect class left there, zeros otherwise: no random bytes that a later ring's round could
 * turn into unchecked entries.
 */
static void keep_writes_in_scratch(struct vring_desc *d, unsigned int n)
{
	unsigned int i, j;

	for (i = 0; i < n; i++) {
		u16 flags = le16_to_cpu(d[i].flags);

		if (flags & VRING_DESC_F_INDIRECT) {
			u32 off = SCRATCH_SPAN + (le64_to_cpu(d[i].addr) % (SCRATCH_SIZE - SCRATCH_SPAN - 16384));
			u32 len;
			struct vring_desc *t;

			off &= ~15u;
			len = (le32_to_cpu(d[i].len) % 16384) & ~15u;
			t = (struct vring_desc *)(scratch + off);
			d[i].addr = cpu_to_le64(virt_to_phys(scratch) + off);
			d[i].len = cpu_to_le32(len);
			for (j = 0; j < len / sizeof(*t); j++)
				if (le16_to_cpu(t[j].flags) & VRING_DESC_F_WRITE)
					writable_in_span(&t[j]);
		} else if (flags & VRING_DESC_F_WRITE) {
			writable_in_span(&d[i]);
		}
	}
}

/*
 * Takes the offered heads back before a round rewrites the table: every slot VM1 may read next
 * names a head past the ring, then a pause lets VM1 finish the chain it is walking, so it never
 * sees one descriptor half old, half new (an old address with a new length or flag could send
 * its writes outside the scratch span).
 */
static void park(struct ring *r)
{
	u16 used = le16_to_cpu(READ_ONCE(r->used->idx));
	u16 i;

	for (i = used; i != r->offered; i++)
		WRITE_ONCE(r->avail->ring[i % r->num], cpu_to_le16(r->num));
	wmb();
}

/*
 * Copies the shadow table into the ring: every flag cleared first, then addresses, lengths and
 * links, then the new flags, so that a descriptor read while it changes is at worst not writable
 * (parked heads and a pause already keep VM1 off the table while it changes).
 */
static void publish_table(struct ring *r)
{
	unsigned int i;

	for (i = 0; i < r->num; i++)
		WRITE_ONCE(r->desc[i].flags, 0);
	wmb();
	for (i = 0; i < r->num; i++) {
		WRITE_ONCE(r->desc[i].addr, r->shadow[i].addr);
		WRITE_ONCE(r->desc[i].len, r->shadow[i].len);
		WRITE_ONCE(r->desc[i].next, r->shadow[i].next);
	}
	wmb();
	for (i = 0; i < r->num; i++)
		WRITE_ONCE(r->desc[i].flags, r->shadow[i].flags);
}

/*
 * Writes one class of bad chains over the whole descriptor table and fills every avail slot from
 * what VM1 has used up to what is offered: up to 16 past used.idx, and never less than before, so
 * the index stays within VM1's reach of its own position (VM1 may have read an earlier index and
 * still be working towards it) in every class but the runaway one.
 */
static void scribble(struct ring *r, enum scribble_class c, u32 round)
{
	u16 used = le16_to_cpu(READ_ONCE(r->used->idx));
	u16 want = used + min(r->num / 2, 16u);
	unsigned int i, count;

	if ((s16)(want - r->offered) > 0)
		r->offered = want;
	count = min_t(unsigned int, (u16)(r->offered - used), r->num);

	for (i = 0; i < r->num; i++) {
		struct vring_desc *d = &r->shadow[i];

		good_desc(r, d, i + round);
		switch (c) {
		case CLASS_OUT_OF_RAM:
			d->addr = cpu_to_le64(OUT_OF_RAM + (u64)i * 4096 - (i & 1));
			d->len = cpu_to_le32(1600);
			break;
		case CLASS_HUGE_LEN:
			d->len = cpu_to_le32(0xfffffff0u - i);
			break;
		case CLASS_LOOP:
			/* odd descriptors chain to themselves, even ones to the next (odd) one; empty
			 * buffers, so no packet fills the chain before VM1's walk must notice the loop */
			d->flags |= cpu_to_le16(VRING_DESC_F_NEXT);
			d->next = cpu_to_le16((i & 1) ? i : (i + 1) % r->num);
			d->len = 0;
			break;
		case CLASS_BAD_INDIRECT: {
			/* a table in scratch: a length that is no whole number of entries, one longer
			 * than any ring, or entries that are themselves indirect */
			struct vring_desc *t = (struct vring_desc *)(scratch + SCRATCH_SPAN);

			d->flags = cpu_to_le16(VRING_DESC_F_INDIRECT);
			d->addr = cpu_to_le64(virt_to_phys(t));
			switch (i % 3) {
			case 0: d->len = cpu_to_le32(17); break;
			case 1: d->len = cpu_to_le32(70000 * 16); break;
			default: d->len = cpu_to_le32(4 * 16); break;
			}
			break;
		}
		case CLASS_BAD_HEAD:
			break;	/* the avail ring below names heads past the table */
		case CLASS_WRONG_DIRECTION:
			/* receive buffers VM1 may not write (pointing at the canary), transmit buffers
			 * that say the device writes them (VM1 only reads transmit buffers and must refuse
			 * these: the one place a writable descriptor points outside the scratch span, at
			 * the canary, so a VM1 that wrote there would be caught) */
			if (r->writable) {
				d->addr = cpu_to_le64(canary_addr(i * 64));
				d->len = cpu_to_le32(2048);
				d->flags = 0;
			} else {
				d->flags = cpu_to_le16(VRING_DESC_F_WRITE);
			}
			break;
		case CLASS_RANDOM:
			get_random_bytes(d, sizeof(*d));
			break;
		case CLASS_RUNAWAY:
			break;
		}
	}
	if (c == CLASS_BAD_INDIRECT) {
		struct vring_desc *t = (struct vring_desc *)(scratch + SCRATCH_SPAN);

		for (i = 0; i < 4; i++) {
			t[i].addr = cpu_to_le64(scratch_addr(i * 256));
			t[i].len = cpu_to_le32(256);
			t[i].flags = cpu_to_le16(VRING_DESC_F_INDIRECT | (r->writable ? VRING_DESC_F_WRITE : 0));
			t[i].next = 0;
		}
	}
	if (c == CLASS_RANDOM)
		keep_writes_in_scratch(r->shadow, r->num);
	publish_table(r);

	for (i = 0; i < count; i++) {
		u16 head = (c == CLASS_BAD_HEAD) ? r->num + i * 7 : (used + i + round) % r->num;

		if (c == CLASS_RANDOM)
			head = get_random_u32() % (r->num + 4);
		r->avail->ring[(u16)(used + i) % r->num] = cpu_to_le16(head);
	}
	/* heads before the index */
	wmb();
	if (c == CLASS_RUNAWAY)
		WRITE_ONCE(r->avail->idx, cpu_to_le16(used + 0x8000));
	else
		WRITE_ONCE(r->avail->idx, cpu_to_le16(r->offered));
	/* index before the doorbell */
	mb();
	virtqueue_notify(r->vq);
}

static int ring_of(struct virtqueue *vq, bool writable, struct ring *r)
{
	unsigned int num = virtqueue_get_vring_size(vq);

	if (num == 0 || num > 32768 || (num & (num - 1)))
		return -EINVAL;
	r->vq = vq;
	r->writable = writable;
	r->num = num;
	r->desc = phys_to_virt(virtqueue_get_desc_addr(vq));
	r->avail = phys_to_virt(virtqueue_get_avail_addr(vq));
	r->used = phys_to_virt(virtqueue_get_used_addr(vq));
	r->shadow = kcalloc(num, sizeof(*r->shadow), GFP_KERNEL);
	return r->shadow ? 0 : -ENOMEM;
}

static int __init ring_scribbler_init(void)
{
	struct net_device *ndev;
	struct device *parent;
	struct virtio_device *vdev;
	struct virtqueue *vq, *rxq = NULL, *txq = NULL;
	struct ring rx = {}, tx = {};
	unsigned long end;
	u32 round = 0;
	size_t bad;
	int err;

	ndev = dev_get_by_name(&init_net, ifname);
	if (!ndev) {
		pr_err("ring_scribbler: no interface %s\n", ifname);
		return -ENODEV;
	}
	parent = ndev->dev.parent;
	if (!parent || !parent->driver || strcmp(parent->driver->name, "virtio_net") != 0) {
		pr_err("ring_scribbler: %s is not a virtio_net interface\n", ifname);
		dev_put(ndev);
		return -ENODEV;
	}
	vdev = dev_to_virtio(parent);
	if (virtio_has_feature(vdev, VIRTIO_F_ACCESS_PLATFORM) || virtio_has_feature(vdev, VIRTIO_F_RING_PACKED)) {
		pr_err("ring_scribbler: %s's device uses an IOMMU or packed rings; only split rings at guest-physical addresses are handled\n",
		       ifname);
		dev_put(ndev);
		return -EOPNOTSUPP;
	}
	list_for_each_entry(vq, &vdev->vqs, list) {
		if (!rxq && strcmp(vq->name, "input.0") == 0)
			rxq = vq;
		else if (!txq && strcmp(vq->name, "output.0") == 0)
			txq = vq;
	}
	if (!rxq || !txq || ring_of(rxq, true, &rx) || ring_of(txq, false, &tx)) {
		pr_err("ring_scribbler: %s has no usable input.0/output.0 split rings\n", ifname);
		err = -ENODEV;
		goto out;
	}
	scratch = kzalloc(SCRATCH_SIZE, GFP_KERNEL);
	canary = kmalloc(CANARY_SIZE, GFP_KERNEL);
	if (!scratch || !canary) {
		err = -ENOMEM;
		goto out;
	}
	memset(canary, CANARY_BYTE, CANARY_SIZE);

	/* virtio_net lets go of the rings: no more refills, no NAPI polls of the used rings */
	rtnl_lock();
	dev_close(ndev);
	rtnl_unlock();
	rx.offered = le16_to_cpu(READ_ONCE(rx.avail->idx));
	tx.offered = le16_to_cpu(READ_ONCE(tx.avail->idx));
	pr_info("ring_scribbler: %s closed; rx ring %u entries at %llx, tx ring %u entries at %llx, indirect %s\n",
		ifname, rx.num, (u64)virtqueue_get_desc_addr(rxq), tx.num,
		(u64)virtqueue_get_desc_addr(txq),
		virtio_has_feature(vdev, VIRTIO_RING_F_INDIRECT_DESC) ? "negotiated" : "not negotiated");

	end = jiffies + msecs_to_jiffies(seconds * 1000);
	while (time_before(jiffies, end) || round < CLASS_NORMAL_COUNT) {
		enum scribble_class c = round % CLASS_NORMAL_COUNT;

		park(&rx);
		park(&tx);
		msleep(settle_ms);
		scribble(&rx, c, round);
		scribble(&tx, c, round);
		if (round < CLASS_NORMAL_COUNT)
			pr_info("ring_scribbler: round %u class %s rx_used %u tx_used %u\n", round,
				class_names[c], le16_to_cpu(READ_ONCE(rx.used->idx)),
				le16_to_cpu(READ_ONCE(tx.used->idx)));
		msleep(round_ms);
		round++;
	}
	park(&rx);
	park(&tx);
	msleep(settle_ms);
	scribble(&rx, CLASS_RUNAWAY, round);
	scribble(&tx, CLASS_RUNAWAY, round);
	msleep(round_ms);
	round++;

	for (bad = 0; bad < CANARY_SIZE && canary[bad] == CANARY_BYTE; bad++)
		;
	if (bad == CANARY_SIZE)
		pr_info("ring_scribbler: done rounds=%u rx_used %u tx_used %u canary=intact\n", round,
			le16_to_cpu(READ_ONCE(rx.used->idx)), le16_to_cpu(READ_ONCE(tx.used->idx)));
	else
		pr_info("ring_scribbler: done rounds=%u canary=broken@%zu\n", round, bad);
	err = 0;
	/* scratch and canary stay: VM1 may still hold chains that point into them */
	scratch = NULL;
	canary = NULL;
out:
	kfree(scratch);
	kfree(canary);
	kfree(rx.shadow);
	kfree(tx.shadow);
	dev_put(ndev);
	return err;
}

static void __exit ring_scribbler_exit(void)
{
}

module_init(ring_scribbler_init);
module_exit(ring_scribbler_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("tandem test: a VM2 guest that scribbles its own virtio-net rings");
