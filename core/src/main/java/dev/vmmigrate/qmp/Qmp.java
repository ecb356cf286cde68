package dev.vmmigrate.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.migration.MigrationInfo;
import dev.vmmigrate.migration.MigrationListener;
import dev.vmmigrate.migration.MigrationStatus;
import dev.vmmigrate.migration.VmControl;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * QMP in process, on one {@link VmControl}: executes commands and sends events to whoever
 * listens. The QMP socket ({@link QmpServer}) and the monitor (HMP, which QEMU also builds on
 * the qmp_* commands) both go through it, so a command behaves the same either way.
 */
public final class Qmp {
    private final ObjectMapper json = new ObjectMapper();
    private final QmpCommands commands;
    private final ObjectNode version;
    private final List<QmpEvents> listeners = new CopyOnWriteArrayList<>();
    private final Runnable onQuit;

    /**
     * @param packageVersion the "package" of query-version and the greeting (vm-migrate's version)
     * @param onQuit run by the quit command, after its SHUTDOWN event and its reply
     */
    public Qmp(VmControl vm, String packageVersion, Runnable onQuit) {
        // QEMU 7.2's protocol: the version scripts see is the one whose QMP this follows.
        version = json.createObjectNode();
        version.putObject("qemu").put("micro", 0).put("minor", 2).put("major", 7);
        version.put("package", packageVersion);
        this.onQuit = onQuit;
        commands = new QmpCommands(json, vm, this::emit, version);
        vm.addListener(new MigrationListener() {
            @Override
            public void statusChanged(MigrationStatus status, MigrationInfo info) {
                if (vm.events()) {
                    emit("MIGRATION", json.createObjectNode().put("status", status.qmpName()));
                }
            }

            @Override
            public void passStarted(long pass) {
                if (vm.events()) {
                    emit("MIGRATION_PASS", json.createObjectNode().put("pass", pass));
                }
            }
        });
        vm.addRunStateListener(new Consumer<>() {
            private boolean wasRunning = vm.runState() == RunState.RUNNING;

            @Override
            public synchronized void accept(RunState state) {
                boolean running = state == RunState.RUNNING;
                if (running != wasRunning) {
                    wasRunning = running;
                    emit(running ? "RESUME" : "STOP", null);
                }
            }
        });
    }

    ObjectMapper json() {
        return json;
    }

    /** query-version's reply, also in the greeting. */
    ObjectNode version() {
        return version.deepCopy();
    }

    /**
     * Executes {@code command} with {@code arguments} (null: none), as a QMP client would.
     *
     * @return the "return" value
     */
    public JsonNode execute(String command, ObjectNode arguments) throws QmpException {
        ObjectNode request = json.createObjectNode().put("execute", command);
        if (arguments != null) {
            request.set("arguments", arguments);
        }
        JsonNode result = commands.execute(command, request);
        quitIf(command);
        return result;
    }

    /**
     * Ends the command once quit's reply is out, as QEMU replies before it shuts down: a client
     * gets its {"return": {}} rather than a closed socket.
     */
    void quitIf(String command) {
        if (command.equals("quit")) {
            onQuit.run();
        }
    }

    /** Runs a request as it came from a client (the caller runs {@link #quitIf} after replying) (its "execute" already checked to be {@code command}). */
    JsonNode execute(String command, JsonNode request) throws QmpException {
        return commands.execute(command, request);
    }

    public ObjectNode arguments() {
        return json.createObjectNode();
    }

    public void addEventListener(QmpEvents listener) {
        listeners.add(listener);
    }

    public void removeEventListener(QmpEvents listener) {
        listeners.remove(listener);
    }

    private void emit(String event, ObjectNode data) {
        for (QmpEvents listener : listeners) {
            listener.emit(event, data);
        }
    }
}
