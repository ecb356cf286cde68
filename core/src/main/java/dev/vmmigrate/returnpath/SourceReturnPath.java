package dev.vmmigrate.returnpath;

import dev.vmmigrate.stream.MigrationInput;
import java.io.IOException;
import java.nio.channels.ReadableByteChannel;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The source's end of the return path (QEMU's source_return_path_thread): reads what the
 * destination sends back on a thread of its own and turns it into the destination's verdict.
 * The verdict is its SHUT: status 0 means it loaded the VM; any other status, an error message,
 * or the return path closing first means it did not.
 */
public final class SourceReturnPath implements AutoCloseable {
    /** What the destination said in the end. */
    public sealed interface Verdict {
        /** SHUT with status 0: the destination loaded (and, if it is vm-migrate, verified) the VM. */
        record Loaded() implements Verdict {
        }

        /**
         * The destination refused or failed: one line, with its own words where it sent them.
         *
         * @param said whether the destination said so (SHUT, its reason) rather than went away
         */
        record Refused(String reason, boolean said) implements Verdict {
        }
    }

    /**
     * Where a resumed migration goes on from (the destination's answer to a new connection):
     * every section before stream offset {@code offset} was read whole, and {@code received}
     * holds, by RAM block, the bitmap of pages the destination has.
     */
    public record ResumePoint(long offset, Map<String, long[]> received) {
    }

    private final MigrationInput in;
    private final CompletableFuture<Verdict> verdict = new CompletableFuture<>();
    private final CompletableFuture<ResumePoint> resumePoint = new CompletableFuture<>();
    /** RECV_BITMAPs by block; guarded by itself, which is notified as each comes and when a verdict ends the waits. */
    private final Map<String, long[]> receivedBitmaps = new LinkedHashMap<>();
    private final CompletableFuture<Void> resumeAck = new CompletableFuture<>();
    private volatile long resumeToken;
    /** Why reading stopped (the link's own error), or null while it reads. */
    private volatile String brokenBecause;
    private volatile long lastHeardNanos = System.nanoTime();
    private volatile String reason;
    private volatile long pongs;
    /** Postcopy: the pages the destination asked for, oldest first, each naming its block. */
    private final java.util.concurrent.BlockingQueue<ReturnPathMessage.ReqPages> pageRequests =
            new java.util.concurrent.LinkedBlockingQueue<>();
    /** The block the last REQ_PAGES_ID named: a REQ_PAGES means that one. */
    private String lastRequestedBlock;

    /** Postcopy: the next page request (its block always named), or null when none waits. */
    public ReturnPathMessage.ReqPages pollPageRequest() {
        return pageRequests.poll();
    }

    /** Starts reading {@code back}, the connection's incoming side. */
    public SourceReturnPath(ReadableByteChannel back) {
        this.in = new MigrationInput(back);
        verdict.whenComplete((done, error) -> {
            synchronized (receivedBitmaps) {
                receivedBitmaps.notifyAll(); // a wait for bitmaps ends
            }
        });
        Thread.ofPlatform().name("return-path").daemon().start(this::readMessages);
    }

    private void readMessages() {
        try {
            while (!verdict.isDone()) {
                ReturnPathMessage message = ReturnPathMessage.read(in);
                lastHeardNanos = System.nanoTime();
                switch (message) {
                    case ReturnPathMessage.Shut shut -> verdict.complete(shut.status() == 0 ? new Verdict.Loaded()
                            : new Verdict.Refused(reason != null ? "the destination refused the migration: " + reason
                                    : "the destination failed to load the VM (SHUT status " + shut.status() + ")", true));
                    case ReturnPathMessage.Pong pong -> pongs++;
                    case ReturnPathMessage.ReqPages req -> {
                        if (req.block() != null) {
                            lastRequestedBlock = req.block();
                        } else if (lastRequestedBlock == null) {
                            throw new dev.vmmigrate.stream.StreamFormatException("REQ_PAGES before any REQ_PAGES_ID "
                                    + "named a RAM block", in.position());
                        }
                        pageRequests.add(new ReturnPathMessage.ReqPages(lastRequestedBlock, req.start(), req.length()));
                    }
                    case ReturnPathMessage.Error error -> reason = error.reason();
                    case ReturnPathMessage.Resumable resumable -> resumeToken = resumable.token();
                    case ReturnPathMessage.RecvBitmap recv -> {
                        synchronized (receivedBitmaps) {
                            receivedBitmaps.put(recv.block(), recv.bitmap());
                            receivedBitmaps.notifyAll();
                        }
                    }
                    case ReturnPathMessage.ResumeAck ack -> {
                        if (ack.value() != ReturnPathMessage.ResumeAck.VALUE) {
                            throw new dev.vmmigrate.stream.StreamFormatException("RESUME_ACK with value " + ack.value()
                                    + ", not QEMU's " + ReturnPathMessage.ResumeAck.VALUE, in.position() - 4);
                        }
                        resumeAck.complete(null);
                    }
                    case ReturnPathMessage.Resumed resumed -> {
                        synchronized (receivedBitmaps) {
                            resumePoint.complete(new ResumePoint(resumed.offset(), Map.copyOf(receivedBitmaps)));
                        }
                    }
                    case ReturnPathMessage.Unsupported other -> verdict.complete(new Verdict.Refused(
                            "the destination sent " + other.type() + " on the return path, which a precopy "
                                    + "migration does not use", true));
                }
            }
        } catch (IOException | RuntimeException e) {
            brokenBecause = e.getMessage() == null ? e.toString() : e.getMessage();
            verdict.complete(reason != null ? new Verdict.Refused("the destination refused the migration: " + reason, true)
                    : new Verdict.Refused("the destination closed the return path without confirming the load ("
                            + (e.getMessage() == null ? e.toString() : e.getMessage()) + ")", false));
        }
    }

    /** The token the destination echoed: it resumes a migration that presents it (receive --reconnect); else 0. */
    public long resumeToken() {
        return resumeToken;
    }

    /**
     * Waits for the destination's answer to a resumed connection.
     *
     * @return null when none came within {@code limit}
     * @throws IOException when the destination refused or the return path closed first
     */
    public ResumePoint awaitResumePoint(Duration limit) throws IOException, InterruptedException {
        try {
            CompletableFuture.anyOf(resumePoint, verdict).get(limit.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            return null;
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
        ResumePoint point = resumePoint.getNow(null);
        if (point != null) {
            return point;
        }
        throw new IOException(((Verdict.Refused) verdict.getNow(null)).reason());
    }

    /**
     * Postcopy recovery: waits for the RECV_BITMAP of each of {@code blocks} (answers to the
     * source's RECV_BITMAP commands on this link).
     *
     * @return the bitmaps by block, or null when not all came within {@code limit}
     * @throws IOException when the destination refused or the return path closed first
     */
    public Map<String, long[]> awaitRecvBitmaps(java.util.Collection<String> blocks, Duration limit)
            throws IOException, InterruptedException {
        long deadline = System.nanoTime() + limit.toNanos();
        synchronized (receivedBitmaps) {
            while (!receivedBitmaps.keySet().containsAll(blocks)) {
                if (verdict.getNow(null) instanceof Verdict.Refused refused) {
                    throw new IOException(refused.reason());
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return null;
                }
                TimeUnit.NANOSECONDS.timedWait(receivedBitmaps, left);
            }
            Map<String, long[]> answer = new LinkedHashMap<>();
            blocks.forEach(block -> answer.put(block, receivedBitmaps.get(block)));
            return answer;
        }
    }

    /**
     * Postcopy recovery: waits for RESUME_ACK.
     *
     * @return false when it did not come within {@code limit}
     * @throws IOException when the destination refused or the return path closed first
     */
    public boolean awaitResumeAck(Duration limit) throws IOException, InterruptedException {
        try {
            CompletableFuture.anyOf(resumeAck, verdict).get(limit.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            return false;
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
        if (resumeAck.isDone()) {
            return true;
        }
        throw new IOException(((Verdict.Refused) verdict.getNow(null)).reason());
    }

    /** Why the return path stopped reading ("Connection reset"), or null while it reads or after a verdict. */
    public String brokenBecause() {
        return brokenBecause;
    }

    /** When the destination was last heard from, in System.nanoTime() terms. */
    public long lastHeardNanos() {
        return lastHeardNanos;
    }

    /** PONGs received so far. */
    public long pongs() {
        return pongs;
    }

    /** The verdict if it came already. */
    public Verdict verdictNow() {
        return verdict.getNow(null);
    }

    /**
     * Waits for the verdict.
     *
     * @return null when none came within {@code limit}
     */
    public Verdict awaitVerdict(Duration limit) throws InterruptedException {
        try {
            return verdict.get(limit.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            return null;
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
    }

    /** Stops reading (the connection itself is its owner's to close). */
    @Override
    public void close() {
        verdict.complete(new Verdict.Refused("the return path was closed", false));
        try {
            in.close();
        } catch (IOException ignored) {
            // closing the reader of a connection that is going away
        }
    }
}
