package dev.vmmigrate.testing;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** What a test opened (guests, endpoints, sockets), closed last first when the test ends. */
public final class TestResources implements AutoCloseable {
    private final List<AutoCloseable> resources = new CopyOnWriteArrayList<>();

    /** Closes {@code resource} when this closes; returns it. */
    public <T extends AutoCloseable> T track(T resource) {
        resources.add(resource);
        return resource;
    }

    @Override
    public void close() throws Exception {
        for (int i = resources.size() - 1; i >= 0; i--) {
            resources.get(i).close();
        }
    }
}
