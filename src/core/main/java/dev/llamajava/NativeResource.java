package dev.llamajava;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Cleaner;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * An owned native pointer. Closing twice is safe; any use after close throws {@link IllegalStateException}; the pointer
 * is never freed while a call that borrowed it ({@link #use()}) still runs: close marks the handle closed and the last
 * borrower frees it. A child pins its parent (a context pins its model): the parent's native object outlives every
 * child, however the two are closed, and whichever order the garbage collector finds them in. A {@link Cleaner} frees
 * what a user forgot, with a warning.
 */
abstract class NativeResource implements AutoCloseable {

    private static final Logger LOG = System.getLogger("dev.llamajava");
    static final Cleaner CLEANER = Cleaner.create(r -> {
        Thread t = new Thread(r, "llama-java-cleaner");
        t.setDaemon(true);
        return t;
    });
    private static final int CLOSED = 1 << 30;

    /** A borrowed pointer, valid until {@link #close()}: {@code try (Borrow b = use()) { ... b.ptr() ... }}. */
    record Borrow(NativeResource owner, MemorySegment ptr) implements AutoCloseable {
        @Override
        public void close() {
            owner.release();
        }
    }

    /** What the cleaner and the last borrower share; it must not reference the owner object. */
    private static final class State implements Runnable {
        final String kind;
        final MemorySegment ptr;
        final Consumer<MemorySegment> free;
        final State parent;
        final AtomicInteger users = new AtomicInteger();
        final AtomicBoolean freed = new AtomicBoolean();
        volatile boolean closedByUser;

        State(String kind, MemorySegment ptr, Consumer<MemorySegment> free, State parent) {
            this.kind = kind;
            this.ptr = ptr;
            this.free = free;
            this.parent = parent;
        }

        /** The cleaner: the owner became unreachable without being closed. */
        @Override
        public void run() {
            if (closedByUser) return;
            LOG.log(Level.WARNING, kind + " was not closed; the cleaner freed it");
            markClosed();
        }

        /** @return the number of borrowers when it was marked, or -1 when it was closed already */
        int markClosed() {
            for (;;) {
                int c = users.get();
                if ((c & CLOSED) != 0) return -1;
                if (users.compareAndSet(c, c | CLOSED)) {
                    if (c == 0) freeNow();
                    return c;
                }
            }
        }

        void release() {
            if (users.decrementAndGet() == CLOSED) freeNow();
        }

        void freeNow() {
            if (!freed.compareAndSet(false, true)) return;
            try {
                free.accept(ptr);
            } catch (Throwable t) {
                LOG.log(Level.ERROR, "freeing " + kind + " failed", t);
            } finally {
                if (parent != null) parent.release();
            }
        }
    }

    private final State state;
    private final Cleaner.Cleanable cleanable;
    private final boolean exclusive;

    /**
     * @param kind      the type name used in messages
     * @param ptr       the native pointer (not NULL)
     * @param free      frees it, exactly once; must not reference the new object
     * @param exclusive whether at most one thread may use it at a time
     * @param parent    a resource this one pins until it is freed (borrowed here, released when this is freed), or null
     * @throws IllegalStateException when the parent is closed (then {@code free} runs at once)
     */
    NativeResource(String kind, MemorySegment ptr, Consumer<MemorySegment> free, boolean exclusive, NativeResource parent) {
        State pinned = null;
        if (parent != null) {
            try {
                parent.acquire();
            } catch (RuntimeException e) {
                free.accept(ptr);
                throw e;
            }
            pinned = parent.state;
        }
        this.state = new State(kind, ptr, free, pinned);
        this.cleanable = CLEANER.register(this, state);
        this.exclusive = exclusive;
    }

    /**
     * Borrows the pointer for one call: {@code try (Borrow b = use()) { ... }}. The object stays reachable, and the
     * pointer valid, until the borrow is closed.
     *
     * @throws IllegalStateException when closed, or when exclusive and in use by another call
     */
    final Borrow use() {
        return new Borrow(this, acquire());
    }

    /** Marks the start of a long use (a stream); pair with {@link #release()}. Prefer {@link #use()}. */
    final MemorySegment acquire() {
        AtomicInteger users = state.users;
        for (;;) {
            int c = users.get();
            if ((c & CLOSED) != 0) throw new IllegalStateException(state.kind + " is closed");
            if (exclusive && c != 0) {
                throw new IllegalStateException(state.kind + " is in use by another thread or stream; a " + state.kind
                        + " may be used by one thread at a time");
            }
            if (users.compareAndSet(c, c + 1)) return state.ptr;
        }
    }

    /** Ends a use started by {@link #acquire()}; the last one after a close frees the native object. */
    final void release() {
        state.release();
    }

    /** @return whether {@link #close()} was called (or the cleaner ran) */
    public final boolean isClosed() {
        return (state.users.get() & CLOSED) != 0;
    }

    /** Called when close is requested while a call is running (to abort it); default does nothing. */
    void onCloseWhileInUse() { }

    /**
     * Frees the native object now, or when the running call (or, for a model, the last context, sampler or stream
     * using it) ends. Safe to call more than once, from any thread.
     */
    @Override
    public void close() {
        state.closedByUser = true;
        int users = state.markClosed();
        cleanable.clean(); // unregisters; the action sees closedByUser and does nothing
        if (users > 0) onCloseWhileInUse();
    }
}
