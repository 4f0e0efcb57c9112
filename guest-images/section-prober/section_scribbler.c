// SPDX-License-Identifier: GPL-2.0
/*
 * section_scribbler: a hostile peer driver for vhost-pci 2.1, for
 * tests/e2e/vhost-pci-symmetric-hostile.sh (docs/vhost-pci-net.md §9.3, §9.4).
 *
 * Loaded in one VM of a symmetric pair after our driver was unbound from the device, it takes
 * over that VM's own output section (the only memory the other VM can see of it) and, for
 * `seconds`, writes one class of bad content after another into it, ringing both doorbells after
 * every round so the other VM's driver reads it at once (through KVM: ioeventfd -> irqfd):
 *   0 lens      a sane header, TX entries with lengths 0, 13, slot_size + 1 and 0xffffffff
 *   1 hdrs      sane lengths, virtio_net_hdr garbage: unknown gso types, csum_start past the
 *               frame, huge hdr_len and gso_size, unknown flags
 *   2 sizes     the header's ring_size, slot_size and buf_offset change under the reader: not a
 *               power of two, huge, past the section's end
 *   3 cons      rx_cons (what we claim to have consumed of the peer's ring) jumps past its tx_prod
 *   4 flap      ready flips between 0 and 1 with the kick flags set
 *   5 random    random bytes over the header and the ring
 *   6 runaway   tx_prod far ahead of anything the ring can hold (last: it stops the reader's ring
 *               until the next peer)
 * It never touches anything but its own section and its own doorbells: the other VM's section is
 * read-only to it anyway. Prints one line per class's first round and
 *   section_scribbler: done rounds=N
 *
 *   insmod section_scribbler.ko [seconds=15] [round_ms=100]
 */
#include <linux/delay.h>
#include <linux/io.h>
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/random.h>
#include <linux/string.h>

#include "section_find.h"
#include <asm/unaligned.h>

static unsigned int seconds = 15;
module_param(seconds, uint, 0444);
MODULE_PARM_DESC(seconds, "how long to scribble");
static unsigned int round_ms = 100;
module_param(round_ms, uint, 0444);
MODULE_PARM_DESC(round_ms, "pause between rounds");

#define SS_MAGIC		0x53505654	/* "TVPS" */
#define SS_VERSION		0x00020001
#define SS_RING			256
#define SS_SLOT			2048
#define SS_BUF			0x3000		/* after the header and 256 x 32 ring bytes, 4K aligned */
#define SS_DATA_DOORBELL	0x1000
#define SS_SPACE_DOORBELL	0x1004
#define SS_NCLASSES		7

static const char * const ss_class[SS_NCLASSES] = {
	"lens", "hdrs", "sizes", "cons", "flap", "random", "runaway",
};

struct ss {
	u8 *sec;
	u32 size;
	u32 prod;
};

static void put32(struct ss *s, u32 off, u32 v)
{
	WRITE_ONCE(*(u32 *)(s->sec + off), v);
}

static void sane_header(struct ss *s)
{
	put32(s, 0x000, SS_MAGIC);
	put32(s, 0x004, SS_VERSION);
	put32(s, 0x00c, SS_RING);
	put32(s, 0x010, SS_SLOT);
	put32(s, 0x014, SS_BUF);
	put32(s, 0x018, 0);
	put32(s, 0x0c0, 1);	/* rx_wants_kick */
	put32(s, 0x100, 1);	/* tx_wants_kick */
	smp_wmb();
	put32(s, 0x008, 1);	/* ready */
}

/* One TX entry at index i: length, then a virtio_net_hdr_v1 (flags, gso_type, hdr_len,
 * gso_size, csum_start, csum_offset, num_buffers). */
static void entry(struct ss *s, u32 i, u32 len, u8 flags, u8 gso, u16 hdr_len, u16 gso_size,
		  u16 csum_start, u16 csum_off)
{
	u8 *e = s->sec + 0x1000 + 32 * (i % SS_RING);
	u8 *frame = s->sec + SS_BUF + (size_t)(i % SS_RING) * SS_SLOT;

	memset(e, 0, 32);
	put_unaligned_le32(len, e);
	e[4] = flags;
	e[5] = gso;
	put_unaligned_le16(hdr_len, e + 6);
	put_unaligned_le16(gso_size, e + 8);
	put_unaligned_le16(csum_start, e + 10);
	put_unaligned_le16(csum_off, e + 12);
	put_unaligned_le16(1, e + 14);
	/* A broadcast IPv4 frame head, so a frame that gets through reaches the stack. */
	memset(frame, 0xff, 6);
	memset(frame + 6, 0x02, 6);
	frame[12] = 0x08;
	frame[13] = 0x00;
}

static void publish(struct ss *s, u32 n)
{
	smp_wmb();
	s->prod += n;
	put32(s, 0x040, s->prod);
}

static void scribble(struct ss *s, unsigned int class)
{
	static const u32 bad_lens[] = { 0, 13, SS_SLOT + 1, 0xffffffff };
	u32 i, r;

	switch (class) {
	case 0:
		sane_header(s);
		for (i = 0; i < 16; i++)
			entry(s, s->prod + i, bad_lens[i % 4], 0, 0, 0, 0, 0, 0);
		publish(s, 16);
		break;
	case 1:
		sane_header(s);
		for (i = 0; i < 16; i++)
			entry(s, s->prod + i, 60 + i, (u8)(get_random_u32() | 1), (u8)get_random_u32(),
			      (u16)get_random_u32(), (u16)get_random_u32(), 0xfff0, 0xfff0);
		publish(s, 16);
		break;
	case 2:
		sane_header(s);
		for (i = 0; i < 8; i++)
			entry(s, s->prod + i, 60, 0, 0, 0, 0, 0, 0);
		r = get_random_u32() % 4;
		put32(s, 0x00c, r == 0 ? 100 : 1u << 20);
		put32(s, 0x010, r == 1 ? 1 : 1u << 24);
		put32(s, 0x014, r == 2 ? s->size : 0xfffff000);
		publish(s, 8);
		break;
	case 3:
		sane_header(s);
		put32(s, 0x080, get_random_u32());
		break;
	case 4:
		sane_header(s);
		for (i = 0; i < 10; i++) {
			put32(s, 0x008, i & 1);
			udelay(50);
		}
		break;
	case 5:
		get_random_bytes(s->sec, 0x1000 + 32 * SS_RING);
		break;
	default:
		sane_header(s);
		s->prod += 1u << 30;
		put32(s, 0x040, s->prod);
		break;
	}
}

static int __init section_scribbler_init(void)
{
	struct pci_dev *pdev = NULL;
	void __iomem *regs = NULL;
	unsigned long end;
	unsigned int round = 0, class;
	struct ss s = {};
	u64 shm;
	int err = -ENODEV;

	pdev = section_find(&shm, &s.size);
	if (!pdev) {
		pr_err("section_scribbler: no symmetric vhost-pci-net function\n");
		return -ENODEV;
	}
	if (pdev->driver) {
		pr_err("section_scribbler: %s is still bound to %s: unbind it first\n", pci_name(pdev),
		       pdev->driver->name);
		err = -EBUSY;
		goto out;
	}
	if (s.size < SS_BUF + SS_RING * SS_SLOT || (s.size & (s.size - 1))) {
		pr_err("section_scribbler: section size %#x too small or odd\n", s.size);
		goto out;
	}
	err = pci_enable_device_mem(pdev);
	if (err)
		goto out;
	regs = pci_iomap(pdev, 0, 0x2000);
	s.sec = memremap(shm, s.size, MEMREMAP_WB);
	if (!regs || !s.sec) {
		pr_err("section_scribbler: cannot map BAR 0 or the section at %#llx\n", shm);
		err = -ENOMEM;
		goto out;
	}
	s.prod = READ_ONCE(*(u32 *)(s.sec + 0x40));
	pr_info("section_scribbler: section at %#llx, %#x bytes; scribbling for %u s\n", shm, s.size, seconds);
	end = jiffies + seconds * HZ;
	for (;;) {
		/* Every class but the last in turn; the runaway index once, at the very end: it stops
		 * the reader's ring until the next peer. */
		bool last = !time_before(jiffies, end) && round >= SS_NCLASSES - 1;

		class = last ? SS_NCLASSES - 1 : round % (SS_NCLASSES - 1);
		scribble(&s, class);
		iowrite32(1, regs + SS_DATA_DOORBELL);
		iowrite32(1, regs + SS_SPACE_DOORBELL);
		if (round < SS_NCLASSES - 1 || last)
			pr_info("section_scribbler: round %u class %s tx_prod %u\n", round, ss_class[class], s.prod);
		round++;
		if (last)
			break;
		msleep(round_ms);
	}
	pr_info("section_scribbler: done rounds=%u\n", round);
	err = 0;
out:
	if (s.sec)
		memunmap(s.sec);
	if (regs)
		pci_iounmap(pdev, regs);
	pci_dev_put(pdev);
	return err;
}

static void __exit section_scribbler_exit(void)
{
}

module_init(section_scribbler_init);
module_exit(section_scribbler_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("tandem test: a symmetric vhost-pci peer that scribbles its own output section");
