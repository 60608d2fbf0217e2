/// What the decoders need from a file's markers/chunks besides the pixels: the declared
/// frame size (checked against limits before libjpeg/libpng allocate anything) and the
/// EXIF orientation, found the way Pillow's `getexif()` finds it.
struct ImageMetadata {
    /// Width and height declared by the first SOF (JPEG) or IHDR (PNG) header, if present.
    var declaredSize: (width: Int, height: Int)?
    /// Orientation 1-8 to apply (`nil`: none, or a value Pillow would not act on).
    var orientation: Int?

    /// Walks JPEG markers up to the first SOS. Pillow keeps the first APP1 "Exif" segment
    /// (later ones are appended, which never changes IFD0) and the last APP1 XMP packet.
    static func jpeg(_ bytes: [UInt8]) -> ImageMetadata {
        var result = ImageMetadata()
        var exif: ArraySlice<UInt8>?
        var xmp: ArraySlice<UInt8>?
        let exifPrefix = Array("Exif\0\0".utf8)
        let xmpPrefix = Array("http://ns.adobe.com/xap/1.0/\0".utf8)
        var position = 2
        while position + 1 < bytes.count {
            guard bytes[position] == 0xFF else { position += 1; continue }  // junk, as Pillow skips it
            let marker = bytes[position + 1]
            if marker == 0xFF || marker == 0x00 { position += 1; continue }
            position += 2
            if marker == 0xD8 || marker == 0x01 || (0xD0...0xD7).contains(marker) { continue }
            if marker == 0xD9 || marker == 0xDA { break }
            guard position + 1 < bytes.count else { break }
            let length = Int(bytes[position]) << 8 | Int(bytes[position + 1])
            guard length >= 2, position + length <= bytes.count else { break }
            let segment = bytes[(position + 2)..<(position + length)]
            switch marker {
            case 0xE1 where segment.starts(with: exifPrefix):
                if exif == nil { exif = segment.dropFirst(exifPrefix.count) }
            case 0xE1 where segment.starts(with: xmpPrefix):
                xmp = segment.dropFirst(xmpPrefix.count)
            case 0xC0...0xCF where marker != 0xC4 && marker != 0xC8 && marker != 0xCC:
                if result.declaredSize == nil, segment.count >= 5 {
                    let base = segment.startIndex
                    let height = Int(segment[base + 1]) << 8 | Int(segment[base + 2])
                    let width = Int(segment[base + 3]) << 8 | Int(segment[base + 4])
                    result.declaredSize = (width, height)
                }
            default:
                break
            }
            position += length
        }
        result.orientation = resolveOrientation(exif: exif, xmp: xmp)
        return result
    }

    /// Walks PNG chunks: IHDR for the size, eXIf for EXIF (Pillow reads it before or after
    /// IDAT), uncompressed iTXt "XML:com.adobe.xmp" for XMP. CRCs are not checked here
    /// (libpng checks them when decoding).
    static func png(_ bytes: [UInt8]) -> ImageMetadata {
        var result = ImageMetadata()
        var exif: ArraySlice<UInt8>?
        var xmp: ArraySlice<UInt8>?
        var position = 8
        while position + 8 <= bytes.count {
            let length = Int(readUInt32(bytes[position..<position + 4], bigEndian: true))
            let type = String(decoding: bytes[(position + 4)..<(position + 8)], as: UTF8.self)
            let start = position + 8
            guard length <= bytes.count - start else { break }
            let data = bytes[start..<(start + length)]
            switch type {
            case "IHDR" where length >= 8:
                let width = Int(readUInt32(data.prefix(4), bigEndian: true))
                let height = Int(readUInt32(data.dropFirst(4).prefix(4), bigEndian: true))
                result.declaredSize = (width, height)
            case "eXIf":
                let body = data.starts(with: Array("Exif\0\0".utf8)) ? data.dropFirst(6) : data
                exif = body
            case "iTXt":
                let keyword = Array("XML:com.adobe.xmp\0".utf8)
                // keyword, NUL, compression flag (0), method, language tag NUL, translated keyword NUL, text
                if data.starts(with: keyword) {
                    var rest = data.dropFirst(keyword.count)
                    if rest.first == 0 {
                        rest = rest.dropFirst(2)
                        if let nul = rest.firstIndex(of: 0) { rest = rest[(nul + 1)...] }
                        if let nul = rest.firstIndex(of: 0) { xmp = rest[(nul + 1)...] }
                    }
                }
            case "IEND":
                position = bytes.count
                continue
            default:
                break
            }
            position = start + length + 4
        }
        result.orientation = resolveOrientation(exif: exif, xmp: xmp)
        return result
    }

    /// Pillow: the EXIF tag if present (any value), else `tiff:Orientation` in XMP.
    private static func resolveOrientation(exif: ArraySlice<UInt8>?, xmp: ArraySlice<UInt8>?) -> Int? {
        if let exif {
            switch ExifReader.orientation(tiff: exif) {
            case .present(let value): return (1...8).contains(value ?? 0) ? value : nil
            case .absent: break
            }
        }
        if let xmp, let value = xmpOrientation(xmp), (1...8).contains(value) { return value }
        return nil
    }

    /// First match of Pillow's pattern `tiff:Orientation(="|>)([0-9])`.
    private static func xmpOrientation(_ xmp: ArraySlice<UInt8>) -> Int? {
        let needle = Array("tiff:Orientation".utf8)
        var index = xmp.startIndex
        while index + needle.count < xmp.endIndex {
            if xmp[index] == needle[0], xmp[index..<(index + needle.count)].elementsEqual(needle) {
                var next = index + needle.count
                if xmp[next] == UInt8(ascii: "=") {
                    next += 1
                    guard next < xmp.endIndex, xmp[next] == UInt8(ascii: "\"") else { index += 1; continue }
                } else if xmp[next] != UInt8(ascii: ">") {
                    index += 1
                    continue
                }
                next += 1
                if next < xmp.endIndex, (48...57).contains(xmp[next]) { return Int(xmp[next] - 48) }
            }
            index += 1
        }
        return nil
    }
}

/// Minimal TIFF/EXIF reader: only IFD0's Orientation tag (0x0112).
enum ExifReader {
    enum Tag: Equatable {
        case absent
        /// Present; `nil` when its type/count is not one Pillow turns into a plain integer.
        case present(Int?)
    }

    static func orientation(tiff: ArraySlice<UInt8>) -> Tag {
        let bytes = Array(tiff)
        guard bytes.count >= 8 else { return .absent }
        let bigEndian: Bool
        if bytes[0] == 0x49, bytes[1] == 0x49 { bigEndian = false }
        else if bytes[0] == 0x4D, bytes[1] == 0x4D { bigEndian = true }
        else { return .absent }
        func u16(_ at: Int) -> Int? {
            guard at >= 0, at + 2 <= bytes.count else { return nil }
            return Int(readUInt16(bytes[at..<at + 2], bigEndian: bigEndian))
        }
        func u32(_ at: Int) -> Int? {
            guard at >= 0, at + 4 <= bytes.count else { return nil }
            return Int(readUInt32(bytes[at..<at + 4], bigEndian: bigEndian))
        }
        guard let ifd = u32(4), let count = u16(ifd) else { return .absent }
        for entry in 0..<count {
            let at = ifd + 2 + entry * 12
            guard let tag = u16(at), let type = u16(at + 2), let items = u32(at + 4) else { return .absent }
            guard tag == 0x0112 else { continue }
            guard items == 1, at + 12 <= bytes.count else { return .present(nil) }
            switch type {
            case 1: return .present(Int(bytes[at + 8]))                 // BYTE
            case 6: return .present(Int(Int8(bitPattern: bytes[at + 8])))  // SBYTE
            case 3: return .present(u16(at + 8))                          // SHORT
            case 8: return .present(u16(at + 8).map { Int(Int16(truncatingIfNeeded: $0)) })  // SSHORT
            case 4: return .present(u32(at + 8))                          // LONG
            case 9: return .present(u32(at + 8).map { Int(Int32(truncatingIfNeeded: $0)) })  // SLONG
            default: return .present(nil)
            }
        }
        return .absent
    }
}

func readUInt16(_ bytes: ArraySlice<UInt8>, bigEndian: Bool) -> UInt16 {
    let a = UInt16(bytes[bytes.startIndex]), b = UInt16(bytes[bytes.startIndex + 1])
    return bigEndian ? a << 8 | b : b << 8 | a
}

func readUInt32(_ bytes: ArraySlice<UInt8>, bigEndian: Bool) -> UInt32 {
    var value: UInt32 = 0
    if bigEndian {
        for byte in bytes.prefix(4) { value = value << 8 | UInt32(byte) }
    } else {
        for byte in bytes.prefix(4).reversed() { value = value << 8 | UInt32(byte) }
    }
    return value
}
