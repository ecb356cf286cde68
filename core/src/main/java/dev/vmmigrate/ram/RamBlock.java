package dev.vmmigrate.ram;

import dev.vmmigrate.os.Libc;
import dev.vmmigrate.stream.TargetPage;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.zip.CRC32C;

/**
 * One block of guest RAM (QEMU's RAMBlock): off-heap memory that costs nothing until touched,
 * or a file mapped shared, with the dirty bitmap the guest's writes feed.
 *
 * <p>The memory belongs to a shared arena: {@link #close()} unmaps it, and any later access
 * (from any thread) fails with {@link IllegalStateException} instead of crashing the JVM.
 */
public final class RamBlock implements AutoCloseable {
    /** How long {@link #close()} retries while another thread is inside an access. */
    private static final long CLOSE_PATIENCE_NANOS = 10_000_000_000L;
    /** The page every zero page is compared with: read-only, so not mutable state. */
    private static final MemorySegment ZERO_PAGE = Arena.global().allocate(TargetPage.SIZE, TargetPage.SIZE).asReadOnly();

    private final String id;
    private final long length;
    private final Path file;
    private final Arena arena;
    private final MemorySegment memory;
    private final DirtyBitmap dirty;
    private final AtomicBoolean closed = new AtomicBoolean();
    /** Mapped fresh: every page reads as zero until {@link #memory()} is first handed out. */
    private final boolean mappedFresh;
    private volatile boolean handedOut;
    /** Postcopy at the destination: pages not here yet make {@link #touch} wait; null otherwise. */
    private volatile PostcopyPages postcopy;
    /** Cleared when the kernel refuses MADV_POPULATE_WRITE (before 5.14): {@link #populate} stops asking. */
    private volatile boolean populates = true;

    private RamBlock(String id, long length, Path file, Arena arena, MemorySegment memory, boolean mappedFresh) {
        this.id = id;
        this.length = length;
        this.file = file;
        this.arena = arena;
        this.memory = memory;
        this.dirty = new DirtyBitmap(length / TargetPage.SIZE);
        this.mappedFresh = mappedFresh;
    }

    /**
     * The guest is about to read or write {@code page}: in postcopy, waits until the page is
     * here (asking the source for it); otherwise returns at once.
     */
    public void touch(long page) {
        PostcopyPages pages = postcopy;
        if (pages != null) {
            pages.await(id, page);
        }
    }

    /** Postcopy begins (or, with null, ends) for this block at the destination. */
    public void postcopy(PostcopyPages pages) {
        postcopy = pages;
    }

    /** The load wrote {@code page}: a guest waiting for it in postcopy goes on. */
    void arrived(long page) {
        PostcopyPages pages = postcopy;
        if (pages != null) {
            pages.arrived(id, page);
        }
    }

    /** How anonymous guest RAM is backed. */
    public enum Pages {
        /**
         * 4 KiB pages: a page is allocated only when written, so zero pages cost no memory. The
         * choice for RAM a migration fills: with huge pages, the first page written in each
         * 2 MiB allocated and zeroed all of it, so a received guest with zero and non-zero pages
         * mixed was faulted in whole (1 GiB for 512 MiB of data), and on a VM whose host takes
         * free memory back, huge pages came 2-4 times slower per byte.
         */
        SMALL,
        /**
         * Transparent huge pages (2 MiB), as QEMU asks for guest RAM: the choice for a guest
         * started here, which writes its memory as it runs. Faulting it in takes 512 times fewer
         * faults, and in the loopback benchmark, where both ends share one VM, a sender on 4 KiB
         * pages took the memory the receiver would have found warm: 355-582 ms against
         * 388-401 ms for 1 GiB.
         */
        HUGE
    }

    /** Anonymous guest RAM on 4 KiB pages: {@link #anonymous(String, long, Pages)}. */
    public static RamBlock anonymous(String id, long length) {
        return anonymous(id, length, Pages.SMALL);
    }

    /**
     * Anonymous guest RAM that costs nothing until touched:
     * {@code mmap(MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE)}, unmapped on {@link #close()}. A zero
     * page never written is known without reading it (/proc/self/pagemap); on huge pages that
     * holds for the 2 MiB regions nothing was written in.
     */
    public static RamBlock anonymous(String id, long length, Pages pages) {
        checkId(id);
        checkLength(length, "guest RAM size");
        Objects.requireNonNull(pages, "pages");
        Arena arena = Arena.ofShared();
        try {
            MemorySegment raw = mmapAnonymous(length, pages == Pages.HUGE);
            long address = raw.address();
            MemorySegment memory = raw.reinterpret(length, arena, unused -> munmap(address, length));
            return new RamBlock(id, length, null, arena, memory, true);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /**
     * A shared mapping of {@code file}: the file is the guest memory. A missing or empty file is
     * created and extended sparsely to {@code length}; an existing file must have exactly
     * {@code length} bytes. {@code length < 0} means the file's size (which must then be non-zero).
     */
    public static RamBlock mapFile(String id, Path file, long length) {
        checkId(id);
        Objects.requireNonNull(file, "file");
        if (length >= 0) {
            checkLength(length, "guest RAM size");
        }
        long existing;
        try {
            existing = Files.size(file);
        } catch (NoSuchFileException e) {
            existing = 0;
        } catch (IOException e) {
            throw new UncheckedIOException("ram file " + file + ": " + e.getMessage(), e);
        }
        long size;
        if (existing == 0) {
            if (length < 0) {
                throw new IllegalArgumentException("ram file " + file + " is missing or empty and no guest RAM size was given");
            }
            size = length;
        } else {
            if (length >= 0 && existing != length) {
                throw new IllegalArgumentException("ram file " + file + " has " + existing + " bytes, guest RAM is " + length + " bytes");
            }
            checkLength(existing, "ram file " + file + " size");
            size = existing;
        }
        Arena arena = Arena.ofShared();
        try {
            if (existing == 0) {
                try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
                    raf.setLength(size); // ftruncate: sparse, no blocks allocated
                }
            }
            MemorySegment memory;
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                memory = channel.map(FileChannel.MapMode.READ_WRITE, 0, size, arena);
            }
            return new RamBlock(id, size, file, arena, memory, existing == 0);
        } catch (IOException e) {
            arena.close();
            throw new UncheckedIOException("ram file " + file + ": cannot map: " + e.getMessage(), e);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /** The block id on the wire ({@code ram} for the default block). */
    public String id() {
        return id;
    }

    /** Size in bytes, a multiple of {@link TargetPage#SIZE}. */
    public long length() {
        return length;
    }

    /** Number of pages. */
    public long pageCount() {
        return length / TargetPage.SIZE;
    }

    /** The guest memory; unusable after {@link #close()}. The block is no longer {@link #untouched()}. */
    public MemorySegment memory() {
        if (!handedOut) { // loaders and the workload call this per page: write the volatile once
            handedOut = true;
        }
        return memory;
    }

    /**
     * True while every page is known to read as zero: the block was mapped fresh (anonymous, or
     * a file this block created) and {@link #memory()} has not been handed out yet, so nothing
     * can have written it. A loader that asks before its first write can then skip the zero
     * pages it has not written itself, without reading them (a read faults a page in).
     */
    public boolean untouched() {
        return mappedFresh && !handedOut;
    }

    /** The mapped file for a file-backed block. */
    public Optional<Path> file() {
        return Optional.ofNullable(file);
    }

    /** Pages written by the workload since the last drain. */
    public DirtyBitmap dirty() {
        return dirty;
    }

    /**
     * Backs {@code [offset, offset + length)} with memory before a load writes it, in one
     * madvise(MADV_POPULATE_WRITE) call instead of a page fault per 4 KiB page. A fault's trap is
     * what a receiver's first write of each page pays; on a VM it costs several microseconds, so
     * 512 MiB of pages written into fresh memory took 717 ms one fault at a time and 409 ms
     * populated run by run (runs of 2 pages on average: half-random pages). QEMU's destination
     * faults page by page. A hint only: a kernel that refuses (before Linux 5.14, or a mapping
     * it cannot populate) leaves the pages to fault in as before.
     */
    public void populate(long offset, long length) {
        Objects.checkFromIndexSize(offset, length, this.length);
        if (populates && length > 0
                && Libc.madvise(memory.asSlice(offset, length), length, Libc.MADV_POPULATE_WRITE) != 0) {
            populates = false;
        }
    }

    /** Whether page {@code pageIndex} holds only zero bytes (compared a vector at a time). */
    public boolean isZeroPage(long pageIndex) {
        Objects.checkIndex(pageIndex, pageCount());
        long offset = pageIndex << TargetPage.BITS;
        return MemorySegment.mismatch(memory, offset, offset + TargetPage.SIZE, ZERO_PAGE, 0, TargetPage.SIZE) == -1;
    }

    /**
     * Feeds {@code [offset, offset + length)} into {@code crc}, exactly as updating it with those
     * bytes would; the pages of anonymous memory that were never written go in as zeros without
     * being read, since reading them would fault each one in (the digest of a half-zero guest
     * paid that for every zero page).
     */
    public void updateCrc(CRC32C crc, long offset, long length) {
        Objects.checkFromIndexSize(offset, length, this.length);
        PageMap pageMap = file == null ? PageMap.open() : null;
        if (pageMap == null) {
            crc.update(memory.asSlice(offset, length).asByteBuffer());
            return;
        }
        try (pageMap) {
            updateCrc(crc, offset, length, pageMap);
        }
        if (closed.get()) { // unmapped meanwhile: its pages read as never written, and the digest is wrong
            throw new IllegalStateException("RAM block " + id + " was closed during its digest");
        }
    }

    private void updateCrc(CRC32C crc, long offset, long length, PageMap pageMap) {
        ByteBuffer zeros = ZERO_PAGE.asByteBuffer();
        long end = offset + length;
        long runStart = offset; // start of the backed bytes not fed in yet
        for (long at = offset; at + TargetPage.SIZE <= end; at += TargetPage.SIZE) {
            if ((at & (TargetPage.SIZE - 1)) == 0 && neverBacked(pageMap, at >>> TargetPage.BITS)) {
                if (at > runStart) {
                    crc.update(memory.asSlice(runStart, at - runStart).asByteBuffer());
                }
                crc.update(zeros.clear());
                runStart = at + TargetPage.SIZE;
            }
        }
        if (end > runStart) {
            crc.update(memory.asSlice(runStart, end - runStart).asByteBuffer());
        }
    }

    /**
     * True when page {@code pageIndex} of anonymous memory was never written (so it reads as
     * zero), from {@code pageMap}, which the caller owns; false for a file-backed block, and
     * when the kernel cannot tell.
     */
    boolean neverBacked(PageMap pageMap, long pageIndex) {
        return file == null && pageMap.neverBacked(memory.address() + (pageIndex << TargetPage.BITS));
    }

    /** Whether {@code page} (any segment of {@link TargetPage#SIZE} bytes) holds only zero bytes. */
    public static boolean isZero(MemorySegment page) {
        if (page.byteSize() != TargetPage.SIZE) {
            throw new IllegalArgumentException("page has " + page.byteSize() + " bytes, not " + TargetPage.SIZE);
        }
        return page.mismatch(ZERO_PAGE) == -1;
    }

    /** Writes a file-backed block's pages to its file (msync); nothing for anonymous memory. */
    public void force() {
        if (file != null) {
            memory.force();
        }
    }

    /** Unmaps the memory; idempotent. Concurrent accessors fail instead of faulting. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            closeArena();
        }
    }

    /**
     * Closes the arena once no other thread is inside an access: a shared arena refuses to close
     * while one is ("Session is acquired by N clients"), and a reader on a thread of its own (the
     * digest a receiver begins when RAM is final) can be mid-update when a failed load closes the
     * guest. An access is short, so a retry soon falls between two; the reader's next access
     * then fails with IllegalStateException.
     */
    private void closeArena() {
        long deadline = System.nanoTime() + CLOSE_PATIENCE_NANOS;
        while (true) {
            try {
                arena.close();
                return;
            } catch (IllegalStateException e) {
                if (!arena.scope().isAlive() || System.nanoTime() - deadline > 0) {
                    throw e;
                }
                Thread.onSpinWait();
            }
        }
    }

    @Override
    public String toString() {
        return "RamBlock[" + id + ", " + length + " bytes" + (file != null ? ", " + file : "") + "]";
    }

    private static void checkId(String id) {
        Objects.requireNonNull(id, "id");
        int bytes = id.getBytes(StandardCharsets.UTF_8).length;
        if (bytes < 1 || bytes > 255) {
            throw new IllegalArgumentException("RAM block id '" + id + "' must be 1 to 255 bytes, not " + bytes);
        }
    }

    private static void checkLength(long length, String what) {
        if (length <= 0 || length % TargetPage.SIZE != 0) {
            throw new IllegalArgumentException(
                    what + " " + length + " is not a positive multiple of the page size " + TargetPage.SIZE);
        }
    }

    /**
     * {@code mmap(MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE)} and the huge page advice. Through
     * {@link Libc}, whose memory calls are linked on first use, so file mappings need no native access.
     */
    private static MemorySegment mmapAnonymous(long length, boolean hugePages) {
        try (Arena local = Arena.ofConfined()) {
            MemorySegment state = Libc.newCallState(local);
            MemorySegment result = Libc.mmap(state, MemorySegment.NULL, length, Libc.PROT_READ | Libc.PROT_WRITE,
                    Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE, -1, 0L);
            if (result.address() == -1L) {
                int errno = Libc.errno(state);
                throw new IllegalStateException("cannot map " + length + " bytes of guest RAM: mmap: " + Libc.strerror(errno));
            }
            // NOHUGEPAGE matters where THP is "always". A kernel without THP says no: fine.
            Libc.madvise(result, length, hugePages ? Libc.MADV_HUGEPAGE : Libc.MADV_NOHUGEPAGE);
            return result;
        }
    }

    private static void munmap(long address, long length) {
        int rc = Libc.munmap(MemorySegment.ofAddress(address), length);
        assert rc == 0 : "munmap failed";
    }
}
