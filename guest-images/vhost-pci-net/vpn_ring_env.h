/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vpn_ring_env.h: what the ring core (vpn_ring.c) needs of its surroundings, for its two builds:
 * the kernel module (kbuild defines __KERNEL__) and the user-space library (Bazel
 * //guest-images/vhost-pci-net:ring_core, for bench/pvp, the unit tests and the fuzz target).
 *
 * Fixed-width types, little-endian conversion, single-copy loads and stores of shared memory
 * (the peer writes its rings concurrently), and the three barriers of a virtqueue. The peer is
 * another CPU of the same host in both builds, so SMP barriers are the right ones (virt_*()).
 */
#ifndef VPN_RING_ENV_H
#define VPN_RING_ENV_H

#ifdef __KERNEL__

#include <linux/compiler.h>
#include <linux/string.h>
#include <linux/types.h>
#include <asm/barrier.h>
#include <asm/byteorder.h>

typedef __le16 vpn_le16;
typedef __le32 vpn_le32;
typedef __le64 vpn_le64;

#define vpn_le16_to_cpu(x)	le16_to_cpu(x)
#define vpn_le32_to_cpu(x)	le32_to_cpu(x)
#define vpn_le64_to_cpu(x)	le64_to_cpu(x)
#define vpn_cpu_to_le16(x)	cpu_to_le16(x)
#define vpn_cpu_to_le32(x)	cpu_to_le32(x)

#define VPN_READ_ONCE(x)	READ_ONCE(x)
#define VPN_WRITE_ONCE(x, v)	WRITE_ONCE(x, v)
#define vpn_rmb()		virt_rmb()
#define vpn_wmb()		virt_wmb()
#define vpn_mb()		virt_mb()

#else /* user space */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

typedef uint16_t vpn_le16;
typedef uint32_t vpn_le32;
typedef uint64_t vpn_le64;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define vpn_le16_to_cpu(x)	((u16)(x))
#define vpn_le32_to_cpu(x)	((u32)(x))
#define vpn_le64_to_cpu(x)	((u64)(x))
#else
#define vpn_le16_to_cpu(x)	__builtin_bswap16(x)
#define vpn_le32_to_cpu(x)	__builtin_bswap32(x)
#define vpn_le64_to_cpu(x)	__builtin_bswap64(x)
#endif
#define vpn_cpu_to_le16(x)	vpn_le16_to_cpu(x)
#define vpn_cpu_to_le32(x)	vpn_le32_to_cpu(x)

/* Relaxed atomics: single-copy loads and stores that the fences below order (C11). */
#define VPN_READ_ONCE(x)	__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define VPN_WRITE_ONCE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define vpn_rmb()		__atomic_thread_fence(__ATOMIC_ACQUIRE)
#define vpn_wmb()		__atomic_thread_fence(__ATOMIC_RELEASE)
#define vpn_mb()		__atomic_thread_fence(__ATOMIC_SEQ_CST)

#endif /* __KERNEL__ */

#endif /* VPN_RING_ENV_H */
