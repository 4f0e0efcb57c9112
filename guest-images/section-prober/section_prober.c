// SPDX-License-Identifier: GPL-2.0
/*
 * section_prober: a guest that tries what vhost-pci 2.1 must not let it do, for
 * tests/e2e/vhost-pci-symmetric.sh (docs/vhost-pci-net.md §9.1, §9.8).
 *
 * It finds the symmetric vhost-pci-net function (1af4:10fa, revision 0x21, vendor capability of
 * kind 0x02), maps both sections write-back as the driver does, and then:
 *   1. writes into the peer's section (its magic, its tx_prod, its last word) and reads each back:
 *      the peer's bytes must be unchanged and RO_WRITES (BAR 0 + 0x28) must count every write;
 *   2. reads what lies beyond the two sections and past the registers of BAR 0: all-ones or zero,
 *      never the peer's memory; and looks for `marker` (a string the peer VM keeps in its RAM) in
 *      every byte this VM can reach outside its own RAM: BAR 0, both sections, the page after.
 * It prints one line and stays loaded (rmmod it afterwards):
 *   section_prober: shm=A section=S peer_magic=X->Y tx_prod=X->Y last=X->Y ro_writes=N->M
 *                   beyond=V bar0_tail=V marker_hits=N verdict=ok|BROKEN
 *
 *   insmod section_prober.ko [marker=STRING]
 */
#include <linux/io.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/string.h>

#include "section_find.h"

static char *marker = "tandem-vm2-private-marker";
module_param(marker, charp, 0444);
MODULE_PARM_DESC(marker, "a string the peer keeps in its RAM; it must not be visible here");

#define SP_VENDOR		0x1af4
#define SP_DEVICE		0x10fa
#define SP_REVISION		0x21
#define SP_REG_RO_WRITES	0x28
#define SP_BAR0_SIZE		0x4000

/* Occurrences of marker in [p, p+len), read through an I/O accessor (safe on any mapping). */
static unsigned int count_marker(const void __iomem *p, size_t len)
{
	size_t mlen = strlen(marker), i, j;
	unsigned int hits = 0;

	if (!mlen || len < mlen)
		return 0;
	for (i = 0; i + mlen <= len; i++) {
		for (j = 0; j < mlen; j++)
			if (readb(p + i + j) != (u8)marker[j])
				break;
		if (j == mlen)
			hits++;
	}
	return hits;
}

static int __init section_prober_init(void)
{
	struct pci_dev *pdev = NULL;
	void __iomem *regs = NULL, *beyond = NULL;
	u8 *own = NULL, *peer;
	u64 shm = 0;
	u32 section = 0;
	u32 magic0, magic1, prod0, prod1, last0, last1, ro0, ro1, beyond_v, bar0_tail;
	unsigned int hits;
	int err = -ENODEV;
	bool ok;

	pdev = section_find(&shm, &section);
	if (!pdev) {
		pr_err("section_prober: no symmetric vhost-pci-net function\n");
		return -ENODEV;
	}
	if (section < 4096 || (section & (section - 1))) {
		pr_err("section_prober: section size %#x unusable\n", section);
		goto out;
	}
	regs = pci_iomap(pdev, 0, SP_BAR0_SIZE);
	own = memremap(shm, 2 * (size_t)section, MEMREMAP_WB);
	beyond = ioremap(shm + 2 * (u64)section, PAGE_SIZE);
	if (!regs || !own || !beyond) {
		pr_err("section_prober: cannot map BAR 0, the sections at %#llx or the page after\n", shm);
		err = -ENOMEM;
		goto out;
	}
	peer = own + section;

	/* 1. Writes into the peer's section: refused by tandem, counted in RO_WRITES. */
	ro0 = ioread32(regs + SP_REG_RO_WRITES);
	magic0 = READ_ONCE(*(u32 *)peer);
	prod0 = READ_ONCE(*(u32 *)(peer + 0x40));
	last0 = READ_ONCE(*(u32 *)(peer + section - 4));
	WRITE_ONCE(*(u32 *)peer, 0xdeadbeef);
	WRITE_ONCE(*(u32 *)(peer + 0x40), prod0 + 1000);
	WRITE_ONCE(*(u32 *)(peer + section - 4), ~last0);
	magic1 = READ_ONCE(*(u32 *)peer);
	prod1 = READ_ONCE(*(u32 *)(peer + 0x40));
	last1 = READ_ONCE(*(u32 *)(peer + section - 4));
	ro1 = ioread32(regs + SP_REG_RO_WRITES);

	/* 2. Nothing of the peer's memory anywhere else this VM can reach. */
	beyond_v = readl(beyond);
	bar0_tail = ioread32(regs + 0x1ffc);	/* past the registers, below the MSI-X table */
	hits = count_marker(regs, 0x1000) + count_marker((void __iomem *)own, 2 * (size_t)section) +
	       count_marker(beyond, PAGE_SIZE);

	ok = magic1 == magic0 && prod1 == prod0 && last1 == last0 && ro1 - ro0 == 3 && hits == 0 &&
	     (beyond_v == 0xffffffff || beyond_v == 0);
	pr_info("section_prober: shm=%#llx section=%#x peer_magic=%#x->%#x tx_prod=%u->%u last=%#x->%#x ro_writes=%u->%u beyond=%#x bar0_tail=%#x marker_hits=%u verdict=%s\n",
		shm, section, magic0, magic1, prod0, prod1, last0, last1, ro0, ro1, beyond_v, bar0_tail,
		hits, ok ? "ok" : "BROKEN");
	err = 0;
out:
	if (beyond)
		iounmap(beyond);
	if (own)
		memunmap(own);
	if (regs)
		pci_iounmap(pdev, regs);
	pci_dev_put(pdev);
	return err;
}

static void __exit section_prober_exit(void)
{
}

module_init(section_prober_init);
module_exit(section_prober_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("tandem test: a guest probing the edges of vhost-pci 2.1's shared sections");
