internal import Foundation
internal import Herald

extension WorkerSettings {
    /// Every setting of `herald worker`, in the order `--print-config` lists them.
    public static var settings: [WorkerSetting] {
        [
            .databaseURL(\.configuration.connectionString),
            .schema(\.configuration.schema),
            .logLevel(\.logLevel),
            .logFormat(\.logFormat),
            .text("worker_id", \.configuration.workerID),
            .integer("concurrency", WorkerConfiguration.concurrencyRange, \.configuration.concurrency),
            .integer("spare_slots", WorkerConfiguration.spareSlotsRange, \.configuration.spareSlots),
            .integer("batch_size", WorkerConfiguration.batchSizeRange, \.configuration.batchSize),
            .bytes("max_in_flight_bytes", WorkerConfiguration.maxInFlightBytesRange, \.configuration.maxInFlightBytes),
            .integer("max_in_flight_per_endpoint", WorkerConfiguration.maxInFlightPerEndpointRange, \.configuration.maxInFlightPerEndpoint),
            .duration("poll_interval", \.configuration.pollInterval),
            .duration("wakeup_coalescing", \.configuration.wakeupCoalescing),
            .duration("connect_timeout", \.configuration.connectTimeout),
            .duration("request_timeout", \.configuration.requestTimeout),
            .integer("max_attempts", RetryPolicy.maxAttemptsRange, \.configuration.retryPolicy.maxAttempts),
            .duration("backoff_base", \.configuration.retryPolicy.base),
            .duration("backoff_cap", \.configuration.retryPolicy.cap),
            WorkerSetting("backoff_factor", show: { "\($0.configuration.retryPolicy.factor)" }) { settings, text in
                guard let factor = Double(text.trimmingCharacters(in: .whitespaces)), factor.isFinite else {
                    throw SettingRefusal("expected a number 1-100")
                }
                settings.configuration.retryPolicy.factor = factor
            },
            .integer("breaker_threshold", BreakerPolicy.failureThresholdRange, \.configuration.breakerPolicy.failureThreshold),
            .duration("breaker_cooldown", \.configuration.breakerPolicy.cooldown),
            .duration("breaker_cooldown_cap", \.configuration.breakerPolicy.cooldownCap),
            .duration("shutdown_grace", \.configuration.shutdownGrace),
            .integer("poison_threshold", WorkerConfiguration.poisonThresholdRange, \.configuration.poisonThreshold),
            WorkerSetting("allow_private_networks", show: { "\($0.configuration.allowPrivateNetworks)" }) { settings, text in
                do { settings.configuration.allowPrivateNetworks = try BooleanText.parse(text, name: "allow_private_networks") } catch {
                    throw SettingRefusal("expected 1, true, yes or on to enable; 0, false, no or off to disable")
                }
            },
            WorkerSetting("metrics_port", show: { $0.configuration.metricsPort.map { "\($0)" } ?? "off" }) { settings, text in
                let range = WorkerConfiguration.metricsPortRange
                if text.lowercased() == "off" { settings.configuration.metricsPort = nil; return }
                guard let port = Int(text.trimmingCharacters(in: .whitespaces)) else {
                    throw SettingRefusal("expected a port \(range.lowerBound)-\(range.upperBound), or off")
                }
                settings.configuration.metricsPort = port
            },
            .text("metrics_host", \.configuration.metricsHost),
            .duration("sample_interval", \.configuration.sampleInterval),
            .duration("heartbeat_interval", \.configuration.heartbeatInterval),
            WorkerSetting("disable_failing_after", show: { $0.configuration.disableFailingAfter.map(DurationDisplay.text) ?? "off" }) { settings, text in
                settings.configuration.disableFailingAfter = text.lowercased() == "off" ? nil : try DurationDisplay.parse(text)
            },
            WorkerSetting("listen_database_url", secret: true,
                show: { $0.configuration.listenConnectionString.map(SecretMask.connectionString) ?? "(the database_url)" },
                apply: { settings, text in settings.configuration.listenConnectionString = text.isEmpty ? nil : text }),
            WorkerSetting("prepared_statements", show: { $0.configuration.preparedStatements ? "on" : "off" }) { settings, text in
                do { settings.configuration.preparedStatements = try BooleanText.parse(text, name: "prepared_statements") } catch {
                    throw SettingRefusal("expected on or off")
                }
            },
            .encryptionKey(\.configuration.encryption),
        ]
    }
}
