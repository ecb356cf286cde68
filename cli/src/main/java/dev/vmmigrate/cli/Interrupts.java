package dev.vmmigrate.cli;

import sun.misc.Signal;

/**
 * Ctrl-C handling: the first SIGINT runs the command's own action (cancel a migration, stop the
 * guest) so it can end with its documented exit code; a second one exits at once.
 */
final class Interrupts {
    private Interrupts() {
    }

    static void onInterrupt(Runnable action) {
        Signal.handle(new Signal("INT"), new sun.misc.SignalHandler() {
            private boolean seen;

            @Override
            public synchronized void handle(Signal signal) {
                if (seen) {
                    Runtime.getRuntime().halt(ExitCode.CANCELLED);
                }
                seen = true;
                Thread.ofPlatform().name("interrupt").start(action);
            }
        });
    }
}
