@testable import BulkCaption
import XCTest

/// The container's CPU quota, from cgroup v2 and v1 files.
final class CPUQuotaTests: XCTestCase {
    func testParsesCgroupV2AndV1() {
        XCTAssertNil(CPUQuota.parseCPUMax("max 100000\n"))
        XCTAssertEqual(CPUQuota.parseCPUMax("150000 100000\n"), 1.5)
        XCTAssertEqual(CPUQuota.parseCPUMax("200000 100000"), 2)
        XCTAssertNil(CPUQuota.parseCFS(quota: "-1\n", period: "100000\n"))
        XCTAssertEqual(CPUQuota.parseCFS(quota: "50000\n", period: "100000\n"), 0.5)
    }

    func testQuotaFromAFakeCgroupTreeRoundsUpAndNeverExceedsTheCores() throws {
        let v2 = try BulkFixtures.folder(for: self)
        try BulkFixtures.touch(v2 + "/cpu.max", "150000 100000\n")
        XCTAssertEqual(CPUQuota.quota(cgroupRoot: v2), 1.5)
        XCTAssertEqual(CPUQuota.availableCPUs(cgroupRoot: v2), min(2, ProcessInfo.processInfo.activeProcessorCount))
        let v1 = try BulkFixtures.folder(for: self)
        try BulkFixtures.touch(v1 + "/cpu,cpuacct/cpu.cfs_quota_us", "100000\n")
        try BulkFixtures.touch(v1 + "/cpu,cpuacct/cpu.cfs_period_us", "100000\n")
        XCTAssertEqual(CPUQuota.availableCPUs(cgroupRoot: v1), 1)
        let huge = try BulkFixtures.folder(for: self)
        try BulkFixtures.touch(huge + "/cpu.max", "6400000 100000\n")
        XCTAssertEqual(CPUQuota.availableCPUs(cgroupRoot: huge), ProcessInfo.processInfo.activeProcessorCount)
        let none = try BulkFixtures.folder(for: self)
        XCTAssertEqual(CPUQuota.availableCPUs(cgroupRoot: none), ProcessInfo.processInfo.activeProcessorCount)
    }
}
