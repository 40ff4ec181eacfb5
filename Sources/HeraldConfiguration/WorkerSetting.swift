internal import Foundation
internal import Herald

/// A setting of `herald worker` (the table is ``WorkerSettings/settings``).
public typealias WorkerSetting = Setting<WorkerSettings>

extension Setting where Values == WorkerSettings {
    /// Every setting of `herald worker`, in the order `--print-config` lists them.
    public static var all: [WorkerSetting] { WorkerSettings.settings }
}
