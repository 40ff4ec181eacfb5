internal import Foundation
internal import Herald

extension WorkerSetting {
    /// Every setting of `herald worker`, in the order `--print-config` lists them.
    public static var all: [WorkerSetting] {
        [
            WorkerSetting("database_url", environment: "DATABASE_URL", secret: true,
                show: { SecretMask.connectionString($0.configuration.connectionString) },
                apply: { settings, text in settings.configuration.connectionString = text }),
            WorkerSetting("schema", show: { $0.configuration.schema.rawValue }) { settings, text in
                do { settings.configuration.schema = try SchemaName(text) } catch let error as HeraldError { throw SettingRefusal(error.message) }
            },
            .choice("log_level", ["trace", "debug", "info", "notice", "warning", "error", "critical"], \.logLevel),
            .choice("log_format", ["text", "json"], \.logFormat),
            .text("worker_id", \.workerID),
            .integer("concurrency", WorkerConfiguration.concurrencyRange, \.concurrency),
            .integer("batch_size", WorkerConfiguration.batchSizeRange, \.batchSize),
            .integer("max_in_flight_per_endpoint", WorkerConfiguration.maxInFlightPerEndpointRange, \.maxInFlightPerEndpoint),
            .duration("poll_interval", \.pollInterval),
            .duration("connect_timeout", \.connectTimeout),
            .duration("request_timeout", \.requestTimeout),
            .integer("max_attempts", RetryPolicy.maxAttemptsRange, \.retryPolicy.maxAttempts),
            .duration("backoff_base", \.retryPolicy.base),
            .duration("backoff_cap", \.retryPolicy.cap),
            WorkerSetting("backoff_factor", show: { "\($0.configuration.retryPolicy.factor)" }) { settings, text in
                guard let factor = Double(text.trimmingCharacters(in: .whitespaces)), factor.isFinite else {
                    throw SettingRefusal("expected a number 1-100")
                }
                settings.configuration.retryPolicy.factor = factor
            },
            .integer("breaker_threshold", BreakerPolicy.failureThresholdRange, \.breakerPolicy.failureThreshold),
            .duration("breaker_cooldown", \.breakerPolicy.cooldown),
            .duration("breaker_cooldown_cap", \.breakerPolicy.cooldownCap),
            .duration("shutdown_grace", \.shutdownGrace),
            .integer("poison_threshold", WorkerConfiguration.poisonThresholdRange, \.poisonThreshold),
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
            .text("metrics_host", \.metricsHost),
            .duration("sample_interval", \.sampleInterval),
            .duration("heartbeat_interval", \.heartbeatInterval),
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
            WorkerSetting("encryption_key", flag: false, environment: "HERALD_ENCRYPTION_KEY", secret: true,
                show: { $0.configuration.encryption.map { "(masked; keys \($0.ids.joined(separator: ", ")))" } ?? "(none: stored in clear)" },
                apply: { settings, text in
                    guard !text.trimmingCharacters(in: .whitespaces).isEmpty else { settings.configuration.encryption = nil; return }
                    do { settings.configuration.encryption = try EncryptionKeys(text) } catch let error as HeraldError {
                        throw SettingRefusal(error.message.replacingOccurrences(of: "HERALD_ENCRYPTION_KEY ", with: ""))
                    }
                }),
        ]
    }
}
