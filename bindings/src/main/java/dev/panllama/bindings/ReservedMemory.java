package dev.panllama.bindings;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.util.Locale;

/**
 * Host address space reserved without committing memory: an anonymous private mapping
 * ({@code mmap(MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)}). The kernel gives a page real memory the
 * first time it is written, and a page never written reads as zeros, so a large reservation costs only
 * what is used of it, and needs no zeroing pass. Closing it unmaps it; its segment then refuses access
 * with an {@link IllegalStateException}.
 *
 * <p>{@link #release} gives pages back: they take no memory again until written, and read as zeros.
 *
 * <p>{@code MAP_NORESERVE} keeps the reservation out of the kernel's commit accounting where it honours
 * that (Linux's default heuristic overcommit); under strict accounting ({@code vm.overcommit_memory=2})
 * the whole size counts and a reservation past the limit is refused, with a message saying so.
 */
public final class ReservedMemory implements AutoCloseable {

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final boolean MAC = System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("mac");
    private static final int PROT_READ_WRITE = 0x1 | 0x2;
    private static final int MAP_PRIVATE = 0x02;
    private static final int MAP_ANONYMOUS = MAC ? 0x1000 : 0x20;
    private static final int MAP_NORESERVE = MAC ? 0x40 : 0x4000;
    private static final int MAP_FIXED = 0x10;
    private static final long MAP_FAILED = -1L;
    /** mincore's answers are asked for this many pages at a time, so that its vector stays small. */
    private static final long PAGES_PER_QUERY = 1 << 16;

    private static final Linker.Option ERRNO = Linker.Option.captureCallState("errno");
    private static final MemoryLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO_VALUE = CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));

    /** {@code void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)} */
    private static final MethodHandle MMAP = LINKER.downcallHandle(LIBC.findOrThrow("mmap"),
            FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT,
                    ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG), ERRNO);
    /** {@code int munmap(void *addr, size_t length)} */
    private static final MethodHandle MUNMAP = LINKER.downcallHandle(LIBC.findOrThrow("munmap"),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
    /** {@code int mincore(void *addr, size_t length, unsigned char *vec)} */
    private static final MethodHandle MINCORE = LINKER.downcallHandle(LIBC.findOrThrow("mincore"),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS), ERRNO);
    /** {@code int getpagesize(void)} */
    private static final MethodHandle GETPAGESIZE = LINKER.downcallHandle(LIBC.findOrThrow("getpagesize"),
            FunctionDescriptor.of(ValueLayout.JAVA_INT));
    /** {@code char *strerror(int errnum)} */
    private static final MethodHandle STRERROR = LINKER.downcallHandle(LIBC.findOrThrow("strerror"),
            FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_INT));

    private final Arena arena;
    private final MemorySegment segment;
    private final long pageSize;

    private ReservedMemory(Arena arena, MemorySegment segment, long pageSize) {
        this.arena = arena;
        this.segment = segment;
        this.pageSize = pageSize;
    }

    /**
     * Reserves {@code bytes} (rounded up to whole pages) of address space, page-aligned, reading as zeros.
     *
     * @throws IllegalStateException when the system refuses the mapping; the message says why
     */
    public static ReservedMemory reserve(long bytes) {
        if (bytes < 1) {
            throw new IllegalArgumentException("a reservation needs at least one byte, not " + bytes);
        }
        long pageSize = pageSize();
        long length = (bytes + pageSize - 1) / pageSize * pageSize;
        Arena arena = Arena.ofShared();
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment state = scratch.allocate(CALL_STATE);
            MemorySegment address = (MemorySegment) MMAP.invokeExact(state, MemorySegment.NULL, length, PROT_READ_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0L);
            if (address.address() == MAP_FAILED) {
                throw new IllegalStateException("could not reserve " + length + " bytes of address space: mmap failed ("
                        + describe((int) ERRNO_VALUE.get(state, 0L)) + ")");
            }
            MemorySegment mapped = address.reinterpret(length, arena, unmapped -> unmap(unmapped.address(), length));
            return new ReservedMemory(arena, mapped, pageSize);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        } catch (Throwable e) {
            arena.close();
            throw new IllegalStateException("mmap could not be called", e);
        }
    }

    /** The reserved memory, page-aligned; valid until {@link #close()}. */
    public MemorySegment segment() {
        return segment;
    }

    /** The reservation's size in bytes: the requested size rounded up to whole pages. */
    public long byteSize() {
        return segment.byteSize();
    }

    /**
     * Bytes of this reservation that are resident in memory now (the kernel's {@code mincore}): the
     * pages written so far, and any only read, which map the shared zero page.
     *
     * @throws IllegalStateException when it is closed
     */
    public long residentBytes() {
        if (!arena.scope().isAlive()) {
            throw new IllegalStateException("this reservation is closed");
        }
        long pages = segment.byteSize() / pageSize;
        long resident = 0;
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment vector = scratch.allocate(Math.min(pages, PAGES_PER_QUERY));
            MemorySegment state = scratch.allocate(CALL_STATE);
            for (long first = 0; first < pages; first += PAGES_PER_QUERY) {
                long count = Math.min(PAGES_PER_QUERY, pages - first);
                int status = (int) MINCORE.invokeExact(state, segment.asSlice(first * pageSize, count * pageSize), count * pageSize, vector);
                if (status != 0) {
                    throw new IllegalStateException("mincore failed (" + describe((int) ERRNO_VALUE.get(state, 0L)) + ")");
                }
                for (long i = 0; i < count; i++) {
                    // Only the lowest bit says "resident"; the others are reserved (Linux) or say more (macOS).
                    resident += vector.get(ValueLayout.JAVA_BYTE, i) & 1;
                }
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException("mincore could not be called", e);
        }
        return resident * pageSize;
    }

    /**
     * Gives back the memory of the whole pages within {@code [offset, offset + length)}: they read as
     * zeros again and take memory only once written, as when reserved. Done by mapping fresh anonymous
     * pages over them ({@code MAP_FIXED}), which every POSIX system does alike, where {@code madvise}'s
     * advice differs between Linux and macOS. Returns the bytes given back.
     *
     * @throws IllegalStateException when it is closed, or the system refuses
     */
    public long release(long offset, long length) {
        if (!arena.scope().isAlive()) {
            throw new IllegalStateException("this reservation is closed");
        }
        if (offset < 0 || length < 0 || offset + length > segment.byteSize()) {
            throw new IndexOutOfBoundsException("cannot release " + length + " bytes at " + offset + " of " + segment.byteSize());
        }
        long start = (offset + pageSize - 1) / pageSize * pageSize;
        long end = (offset + length) / pageSize * pageSize;
        if (end <= start) {
            return 0;
        }
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment state = scratch.allocate(CALL_STATE);
            MemorySegment target = segment.asSlice(start, end - start);
            MemorySegment address = (MemorySegment) MMAP.invokeExact(state, target, end - start, PROT_READ_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0L);
            if (address.address() != target.address()) {
                throw new IllegalStateException("could not give back " + (end - start) + " bytes: mmap failed ("
                        + describe((int) ERRNO_VALUE.get(state, 0L)) + ")");
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException("mmap could not be called", e);
        }
        return end - start;
    }

    /** Unmaps the reservation; closing twice does nothing. */
    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }

    private static void unmap(long address, long length) {
        try {
            int status = (int) MUNMAP.invokeExact(MemorySegment.ofAddress(address), length);
            if (status != 0) {
                // munmap fails only for arguments other than those mmap gave back, so this is a bug, not a condition.
                throw new IllegalStateException("munmap of " + length + " bytes failed");
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException("munmap could not be called", e);
        }
    }

    /** The system's page size: the unit in which a reservation is committed. */
    public static long pageSize() {
        try {
            return (int) GETPAGESIZE.invokeExact();
        } catch (Throwable e) {
            throw new IllegalStateException("getpagesize could not be called", e);
        }
    }

    /** errno as the C library words it, with its number. */
    private static String describe(int errno) {
        try {
            MemorySegment text = (MemorySegment) STRERROR.invokeExact(errno);
            return "errno " + errno + ": " + text.reinterpret(Long.MAX_VALUE).getString(0);
        } catch (Throwable e) {
            return "errno " + errno;
        }
    }
}
