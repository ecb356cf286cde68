package dev.vmmigrate.cli;

/** What the multifd interop tests ask of QEMU over QMP, on either side of a migration. */
final class MultifdQmp {
    private MultifdQmp() {
    }

    /**
     * migrate-set-capabilities multifd (and {@code more}, on), then migrate-set-parameters
     * multifd-channels and multifd-compression ({@code none}, {@code zlib} or {@code zstd}).
     */
    static void enable(QemuProcess qemu, int channels, String compression, String... more) throws Exception {
        var list = QmpClient.args().arrayNode();
        list.addObject().put("capability", "multifd").put("state", true);
        for (String capability : more) {
            list.addObject().put("capability", capability).put("state", true);
        }
        qemu.qmp.execute("migrate-set-capabilities", QmpClient.args().set("capabilities", list));
        qemu.qmp.execute("migrate-set-parameters", QmpClient.args().put("multifd-channels", channels)
                .put("multifd-compression", compression));
    }
}
