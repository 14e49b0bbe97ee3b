"""The console's words, in Vietnamese (default) and English."""

from __future__ import annotations

LANGUAGES = ("vi", "en")

TEXTS: dict[str, dict[str, str]] = {
    "title": {"vi": "Bluezone — Bảng điều khiển cán bộ y tế", "en": "Bluezone — Health officials' console"},
    "sign_in": {"vi": "Đăng nhập", "en": "Sign in"},
    "sign_out": {"vi": "Đăng xuất", "en": "Sign out"},
    "name": {"vi": "Tên cán bộ", "en": "Official's name"},
    "password": {"vi": "Mật khẩu", "en": "Password"},
    "bad_sign_in": {"vi": "Tên hoặc mật khẩu không đúng.", "en": "Wrong name or password."},
    "too_many": {
        "vi": "Quá nhiều lần thử. Vui lòng đợi một phút.",
        "en": "Too many attempts. Wait a minute.",
    },
    "server_busy": {
        "vi": "Có quá nhiều lần đăng nhập sai trên máy chủ: mọi lần đăng nhập phải đợi. Thử lại sau",
        "en": "Too many wrong passwords on this server: every sign-in waits. Try again in",
    },
    "seconds": {"vi": "giây", "en": "seconds"},
    "dashboard": {"vi": "Tổng quan", "en": "Dashboard"},
    "issue": {"vi": "Cấp mã xác nhận", "en": "Issue a code"},
    "codes": {"vi": "Mã đã cấp", "en": "Codes issued"},
    "upload": {"vi": "Tải khoá lên thay người bệnh", "en": "Upload on a case's behalf"},
    "audit": {"vi": "Nhật ký", "en": "Audit log"},
    "test_type": {"vi": "Loại xét nghiệm", "en": "Test type"},
    "confirmed": {"vi": "Khẳng định (F0)", "en": "Confirmed"},
    "likely": {"vi": "Nghi nhiễm (lâm sàng)", "en": "Likely (clinical)"},
    "negative": {"vi": "Âm tính (thu hồi)", "en": "Negative (revocation)"},
    "user-report": {"vi": "Tự khai báo", "en": "Self-report"},
    "symptom_date": {"vi": "Ngày khởi phát triệu chứng", "en": "Symptom onset"},
    "test_date": {"vi": "Ngày xét nghiệm", "en": "Test date"},
    "optional": {"vi": "không bắt buộc", "en": "optional"},
    "code_for_case": {"vi": "Mã cho người bệnh", "en": "Code for the case"},
    "read_aloud": {
        "vi": "Đọc mã này cho người bệnh; mã dùng một lần.",
        "en": "Read this code to the case; it can be used once.",
    },
    "expires": {"vi": "Hết hạn lúc", "en": "Expires at"},
    "long_code": {"vi": "Mã dài (gửi qua liên kết)", "en": "Long code (sent as a link)"},
    "no_public_url": {
        "vi": "Chưa cấu hình địa chỉ công khai (BLUEZONE_PUBLIC_BASE_URL) nên không có liên kết và mã QR.",
        "en": "No public address is configured (BLUEZONE_PUBLIC_BASE_URL), so there is no link or QR code.",
    },
    "scan_qr": {
        "vi": "Hoặc quét mã QR bằng ứng dụng Bluezone.",
        "en": "Or scan the QR code with the Bluezone app.",
    },
    "status": {"vi": "Trạng thái", "en": "Status"},
    "issued_at": {"vi": "Cấp lúc", "en": "Issued at"},
    "active": {"vi": "còn hiệu lực", "en": "active"},
    "claimed": {"vi": "đã dùng", "en": "used"},
    "revoked": {"vi": "đã thu hồi", "en": "revoked"},
    "expired": {"vi": "hết hạn", "en": "expired"},
    "revoke": {"vi": "Thu hồi", "en": "Revoke"},
    "uploads_per_day": {"vi": "Khoá được tải lên theo ngày", "en": "Keys uploaded per day"},
    "batches_per_day": {"vi": "Lô đã công bố theo ngày", "en": "Batches published per day"},
    "day": {"vi": "Ngày", "en": "Day"},
    "keys": {"vi": "Số khoá", "en": "Keys"},
    "files": {"vi": "Số tệp", "en": "Files"},
    "real_keys": {"vi": "Khoá thật", "en": "Real keys"},
    "key_file": {"vi": "Tệp khoá (từ ứng dụng của người bệnh)", "en": "Key file (from the case's app)"},
    "or_paste": {"vi": "hoặc dán nội dung mã QR", "en": "or paste the QR text"},
    "report_type": {"vi": "Loại báo cáo", "en": "Report type"},
    "consent": {
        "vi": "Người bệnh đã đồng ý cho tải các khoá này lên.",
        "en": "The case agreed to the upload of these keys.",
    },
    "submit_upload": {"vi": "Tải lên", "en": "Upload"},
    "uploaded": {"vi": "Đã lưu {n} khoá.", "en": "{n} keys stored."},
    "when": {"vi": "Thời điểm", "en": "When"},
    "who": {"vi": "Ai", "en": "Who"},
    "action": {"vi": "Hành động", "en": "Action"},
    "detail": {"vi": "Chi tiết", "en": "Detail"},
    "error": {"vi": "Lỗi", "en": "Error"},
    "language": {"vi": "English", "en": "Tiếng Việt"},
    "adoption": {"vi": "Tỷ lệ sử dụng", "en": "Adoption"},
    "district": {"vi": "Huyện/Thành phố", "en": "District"},
    "population": {"vi": "Dân số", "en": "Population"},
    "smartphones": {"vi": "Điện thoại thông minh", "en": "Smartphones"},
    "active_devices": {"vi": "Thiết bị hoạt động (hôm qua)", "en": "Active devices (yesterday)"},
    "share_population": {"vi": "% dân số", "en": "% of population"},
    "share_smartphones": {"vi": "% điện thoại thông minh", "en": "% of smartphones"},
    "target": {"vi": "Chỉ tiêu", "en": "Target"},
    "deadline": {"vi": "Hạn", "en": "Deadline"},
    "progress": {"vi": "Tiến độ", "en": "Progress"},
    "set": {"vi": "Đặt", "en": "Set"},
    "download_csv": {"vi": "Tải CSV", "en": "Download CSV"},
    "upper_bound": {
        "vi": 'Số liệu là giới hạn trên: tín hiệu "hoạt động hôm nay" không được xác thực '
        "và không gắn với thiết bị nào. "
        'Số nhỏ hơn {k} được hiển thị là "< {k}".',
        "en": 'Counts are an upper bound: "active today" signals are unauthenticated and tied to no device. '
        'Counts under {k} show as "< {k}".',
    },
}


def translator(lang: str) -> dict[str, str]:
    lang = lang if lang in LANGUAGES else "vi"
    return {key: value[lang] for key, value in TEXTS.items()}
